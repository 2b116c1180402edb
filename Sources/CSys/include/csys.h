#ifndef REPRO_ANALYZE_CSYS_H
#define REPRO_ANALYZE_CSYS_H
/* System calls Swift's Glibc module does not declare (they need _GNU_SOURCE). */

/* Deallocates [offset, offset+length) of a file, keeping its size: fallocate(2) with
   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE. Returns 0 or -1 with errno set. */
int ra_punch_hole(int fd, long offset, long length);

#endif
