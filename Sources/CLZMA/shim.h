#ifndef REPRO_ANALYZE_CLZMA_SHIM_H
#define REPRO_ANALYZE_CLZMA_SHIM_H
#include <lzma.h>
/* LZMA_STREAM_INIT is a macro Swift cannot import. */
static inline lzma_stream ra_lzma_stream_init(void) {
  lzma_stream s = LZMA_STREAM_INIT;
  return s;
}
static inline uint32_t ra_lzma_concatenated(void) { return LZMA_CONCATENATED; }
#endif
