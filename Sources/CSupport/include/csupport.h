#ifndef REPRO_ANALYZE_CSUPPORT_H
#define REPRO_ANALYZE_CSUPPORT_H
/* What Swift cannot do well by itself here: system calls its Glibc module does not declare
   (they need _GNU_SOURCE), and byte scans in SSE2 (Swift's generic SIMD types did not
   vectorise in the parser's loops). The scans are static inline so the Swift optimiser can
   inline them into the per-line code like its own functions. */

#include <stddef.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Deallocates [offset, offset+length) of a file, keeping its size: fallocate(2) with
   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE. Returns 0 or -1 with errno set. */
int ra_punch_hole(int fd, long offset, long length);

/* Flushes C stdout (what Swift's print writes to): 0, or the errno of a write that failed
   now or earlier (EIO when none is known). */
int ra_flush_stdout(void);

/* Line ends in p[0..<n]: appends the offset of every '\n' to out (at most cap - 64 of them,
   cap >= 128) and stores in *scanned how many bytes were looked at; returns the count. A call
   covers ~1000 lines, so it is not inline: it picks AVX2/BMI at run time, SSE2 otherwise. */
long ra_find_newlines(const uint8_t *p, long n, uint32_t *out, long cap, long *scanned);
/* The SSE2 path alone (tests compare both paths with a byte loop). */
long ra_find_newlines_sse2(const uint8_t *p, long n, uint32_t *out, long cap, long *scanned);

/* Identifier bytes of kernel symbols: ASCII letters, digits, '_', '.', '$'. */
static inline int ra_is_ident(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '$';
}

/* The first offset at or after `i` (and before `n`) whose byte is not an identifier byte,
   or `n`: sixteen bytes per step while sixteen remain. */
static inline long ra_ident_end(const uint8_t *p, long i, long n) {
#if defined(__SSE2__)
  const __m128i lo_a = _mm_set1_epi8('a' - 1), hi_z = _mm_set1_epi8('z' + 1);
  const __m128i lo_0 = _mm_set1_epi8('0' - 1), hi_9 = _mm_set1_epi8('9' + 1);
  const __m128i fold = _mm_set1_epi8(0x20);
  const __m128i us = _mm_set1_epi8('_'), dot = _mm_set1_epi8('.'), dollar = _mm_set1_epi8('$');
  while (i + 16 <= n) {
    __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
    /* Signed compares: bytes >= 0x80 are negative and fall outside every range. Or-ing 0x20
       maps exactly A-Z onto a-z among the bytes that land in a-z. */
    __m128i l = _mm_or_si128(v, fold);
    __m128i ok = _mm_and_si128(_mm_cmpgt_epi8(l, lo_a), _mm_cmplt_epi8(l, hi_z));
    ok = _mm_or_si128(ok, _mm_and_si128(_mm_cmpgt_epi8(v, lo_0), _mm_cmplt_epi8(v, hi_9)));
    ok = _mm_or_si128(ok, _mm_or_si128(_mm_cmpeq_epi8(v, us), _mm_or_si128(_mm_cmpeq_epi8(v, dot), _mm_cmpeq_epi8(v, dollar))));
    unsigned stop = ~(unsigned)_mm_movemask_epi8(ok) & 0xFFFFu;
    if (stop) return i + __builtin_ctz(stop);
    i += 16;
  }
#endif
  while (i < n && ra_is_ident(p[i])) i++;
  return i;
}

/* Newline bytes in p[0..<n]: sixteen bytes per step, counted in byte lanes and summed every
   255 steps (before a lane can overflow). */
static inline long ra_count_newlines(const uint8_t *p, long n) {
  long total = 0, i = 0;
#if defined(__SSE2__)
  const __m128i nl = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
  while (i + 16 <= n) {
    __m128i acc = zero;
    long stop = i + 255L * 16;
    if (stop > n) stop = n;
    for (; i + 16 <= stop; i += 16) {
      /* A match is 0xFF (-1): subtracting it adds one to the lane. */
      acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i)), nl));
    }
    __m128i sums = _mm_sad_epu8(acc, zero);
    total += _mm_cvtsi128_si64(sums) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums));
  }
#endif
  for (; i < n; i++) total += p[i] == '\n';
  return total;
}

/* True when p[0..<n], n >= 16, is printable ASCII other than '"' and '\\' (bytes JSON takes
   as they are): sixteen bytes per step, the last step overlapping the one before. */
static inline int ra_is_plain_long(const uint8_t *p, long n) {
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7F);
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
  long i = 0;
  for (;;) {
    __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
    /* Signed compare: bytes >= 0x80 are negative, so one test takes them and the controls. */
    __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, del)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    if (_mm_movemask_epi8(bad)) return 0;
    if (i + 16 >= n) return 1;
    i = i + 32 <= n ? i + 16 : n - 16;
  }
#else
  for (long k = 0; k < n; k++) {
    uint8_t c = p[k];
    if (c < 0x20 || c > 0x7E || c == '"' || c == '\\') return 0;
  }
  return 1;
#endif
}

#endif
