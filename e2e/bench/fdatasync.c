// The disk's own flush, with nothing of a browser in the way (docs/benchmarks.md, "The two goals
// left open"): appends a 400-byte record to PATH and fdatasync()s it, N times, PACE_MS apart,
// and prints p50 / p90 / p99 / max of each write + flush.
//
//   gcc -O2 -o /tmp/fdatasync e2e/bench/fdatasync.c && /tmp/fdatasync /tmp/f.bin 300 5
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s PATH N PACE_MS\n", argv[0]);
    return 2;
  }
  int n = atoi(argv[2]), pace = atoi(argv[3]);
  int fd = open(argv[1], O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0 || n <= 0) {
    perror(argv[1]);
    return 1;
  }
  char record[400] = {7};
  double *ms = malloc(n * sizeof(double));
  off_t offset = 0;
  for (int i = 0; i < n; i++) {
    struct timespec a, z;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (pwrite(fd, record, sizeof record, offset) != sizeof record || fdatasync(fd) != 0) {
      perror("write");
      return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &z);
    offset += sizeof record;
    ms[i] = (z.tv_sec - a.tv_sec) * 1e3 + (z.tv_nsec - a.tv_nsec) / 1e6;
    usleep(pace * 1000);
  }
  qsort(ms, n, sizeof(double), by_value);
  int p99 = (int)(n * 0.99 + 0.999) - 1;
  printf("n %d p50 %.2f p90 %.2f p99 %.2f max %.2f ms\n", n, ms[n / 2], ms[n * 9 / 10], ms[p99], ms[n - 1]);
  unlink(argv[1]);
  return 0;
}
