#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include "csupport.h"

int ra_punch_hole(int fd, long offset, long length) {
  return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}

int ra_flush_stdout(void) {
  errno = 0;
  if (fflush(stdout) != 0 || ferror(stdout)) return errno ? errno : EIO;
  return 0;
}
