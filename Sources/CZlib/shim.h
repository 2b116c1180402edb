#ifndef REPRO_ANALYZE_CZLIB_SHIM_H
#define REPRO_ANALYZE_CZLIB_SHIM_H
#include <zlib.h>
/* inflateInit2 is a macro (it passes the library version and struct size). */
static inline int ra_inflate_init_gzip(z_stream *s) { return inflateInit2(s, 16 + MAX_WBITS); }
#endif
