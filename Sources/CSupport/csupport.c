#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <immintrin.h>
#include "csupport.h"

int ra_punch_hole(int fd, long offset, long length) {
  return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}

int ra_flush_stdout(void) {
  errno = 0;
  if (fflush(stdout) != 0 || ferror(stdout)) return errno ? errno : EIO;
  return 0;
}

/* Sixty-four bytes per step: a bit per newline, then its offsets. The AVX2 path writes four
   without a branch (a block of a log holds about one; the extra writes land in the caller's
   slack and are not counted), more only in a loop for blocks of short lines; the SSE2 path,
   for machines without AVX2/BMI, writes them in a loop. Against memchr per line, this drops
   the call and the mispredicted exit of every search. */

/* The last bytes (fewer than 64) one at a time, when the batch has room for all of them;
   returns where the scan stopped. */
static long find_newlines_tail(const uint8_t *p, long n, uint32_t *out, long cap, long *k, long i) {
  if (*k + 64 > cap) return i;
  for (; i < n; i++)
    if (p[i] == '\n') out[(*k)++] = (uint32_t)i;
  return i;
}

__attribute__((target("avx2,bmi,popcnt"))) static long find_newlines_avx2(
    const uint8_t *p, long n, uint32_t *out, long cap, long *scanned) {
  long k = 0, i = 0;
  const __m256i nl = _mm256_set1_epi8('\n');
  while (i + 64 <= n && k + 64 <= cap) {
    uint64_t lo = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + i)), nl));
    uint64_t hi = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + i + 32)), nl));
    uint64_t m = lo | hi << 32;
    long c = (long)_mm_popcnt_u64(m);
    uint32_t *o = out + k;
    for (int j = 0; j < 4; j++) {
      o[j] = (uint32_t)(i + (long)_tzcnt_u64(m));
      m = _blsr_u64(m);
    }
    for (long j = 4; j < c; j++) {
      o[j] = (uint32_t)(i + (long)_tzcnt_u64(m));
      m = _blsr_u64(m);
    }
    k += c;
    i += 64;
  }
  *scanned = find_newlines_tail(p, n, out, cap, &k, i);
  return k;
}

long ra_find_newlines_sse2(const uint8_t *p, long n, uint32_t *out, long cap, long *scanned) {
  long k = 0, i = 0;
  const __m128i nl = _mm_set1_epi8('\n');
  while (i + 64 <= n && k + 64 <= cap) {
    uint64_t m = 0;
    for (int q = 0; q < 4; q++) {
      uint64_t b = (uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i + 16 * q)), nl));
      m |= b << (16 * q);
    }
    uint32_t *o = out + k;
    long c = 0;
    while (m) {
      o[c++] = (uint32_t)(i + __builtin_ctzll(m));
      m &= m - 1;
    }
    k += c;
    i += 64;
  }
  *scanned = find_newlines_tail(p, n, out, cap, &k, i);
  return k;
}

long ra_find_newlines(const uint8_t *p, long n, uint32_t *out, long cap, long *scanned) {
  if (n > 0x7fffffff) n = 0x7fffffff; /* offsets are 32-bit */
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("popcnt"))
    return find_newlines_avx2(p, n, out, cap, scanned);
  return ra_find_newlines_sse2(p, n, out, cap, scanned);
}
