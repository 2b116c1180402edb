#define _GNU_SOURCE
#include <fcntl.h>
#include "csupport.h"

int ra_punch_hole(int fd, long offset, long length) {
  return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}
