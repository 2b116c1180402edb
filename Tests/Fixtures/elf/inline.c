/* Symbolization fixture: compiled by the tests with `gcc -g -O2` (see SymbolizerTests.swift).
 * Markers `@name` label the lines the tests expect in inline chains; keep them on the
 * statements they name. */
volatile int sink;

static inline __attribute__((always_inline)) void leaf(int x)
{
	sink = x * 3; /* @leaf-store */
}

static inline __attribute__((always_inline)) void middle(int x)
{
	leaf(x + 1); /* @middle-call */
	sink = x; /* @middle-store */
}

__attribute__((noinline)) void outer(int x)
{
	sink = 0; /* @outer-first */
	middle(x); /* @outer-call */
	sink = -1; /* @outer-last */
}

__attribute__((noinline)) int other(int x)
{
	return x + sink; /* @other-body */
}

int main(int argc, char **argv)
{
	(void)argv;
	outer(argc);
	return other(argc);
}
