/*
 * The workload side of `npm run bench`: one small program run unchanged under every supervisor, so
 * the only thing that differs between two rows of the table is what answers the syscall.
 *
 *   workload getppid N THREADS EXPECT   THREADS threads each warm up for 0.1 s, then make N getppid()
 *                                       calls; prints
 *                                       "ns_per_call calls_per_second" (wall time of the slowest
 *                                       thread over all calls). EXPECT is the value getppid must
 *                                       return ("any", "42", or "-EPERM"-style "-N" for -1/errno N),
 *                                       so a row that silently measured the wrong thing fails.
 *   workload getpid N THREADS EXPECT    the same with getpid(), which no bench filter intercepts: the
 *                                       cost of a call a filter lets through
 *   workload mknod DIR N                warms up for 0.1 s, then N times mknod(DIR/bench-null,
 *                                       S_IFCHR|0666, 1:3) + unlink; prints "ns_per_pair"
 *   workload openread PATH N EXPECT     warms up with N/10 and for 0.1 s after its first open, then N times open(PATH, O_RDONLY) + read
 *                                       of all of it + close; prints "ns_per_open". EXPECT is a
 *                                       string the first read must hold ("any": none), so a row that
 *                                       read the host's file instead of a view fails
 *   workload sysinfo N                  warms up for 0.1 s after its first call, then N sysinfo()
 *                                       calls, each checked to succeed with a non-zero totalram;
 *                                       prints "ns_per_call"
 *   workload first-call EXPECT          times its very first getppid() (no warm-up: what a new
 *                                       container's first intercepted call costs, supervisor start
 *                                       included), prints "ns", then waits until it is killed
 *                                       (bench/agent-scale.ts keeps many such containers alive)
 *   workload hold                       makes one getppid() (so a supervisor that starts its data
 *                                       plane on the first intercepted call has it running), prints
 *                                       "ready", then waits for stdin to close (the bench reads the
 *                                       supervisor's peak RSS meanwhile)
 *
 * getppid is made with syscall(2) so libc cannot cache or skip it. Exit status 1 with a one-line
 * reason on stderr on any mismatch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static long iterations;
static long nr = SYS_getppid;
static int expect_any = 1;
static long expected;
static int expect_errno;

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void check(long r) {
  if (expect_any) return;
  if (expect_errno ? (r != -1 || errno != expect_errno) : r != expected) {
    int e = errno;
    fprintf(stderr, "workload: syscall %ld returned %ld (errno %d), expected %s%ld\n", nr, r, e,
            expect_errno ? "-1 with errno " : "", expect_errno ? (long)expect_errno : expected);
    exit(1);
  }
}

/*
 * Calls for WARMUP_NS before timing: the first calls pay for what is unrelated to the steady state
 * (a supervisor still starting threads or tiering up its JIT, a CPU leaving an idle state), and a
 * 0.2 s sample is short enough for those to show.
 */
#define WARMUP_NS 100e6

static void warm_up(void) {
  double until = now_ns() + WARMUP_NS;
  do {
    for (int i = 0; i < 64; i++) check(syscall(nr));
  } while (now_ns() < until);
}

static pthread_barrier_t warmed_up;
static double start;

static void *getppid_loop(void *unused) {
  (void)unused;
  warm_up();
  pthread_barrier_wait(&warmed_up);
  for (long i = 0; i < iterations; i++) check(syscall(nr));
  return NULL;
}

static void *start_clock(void *unused) {
  (void)unused;
  pthread_barrier_wait(&warmed_up);
  start = now_ns();
  return NULL;
}

static int run_getppid(int argc, char **argv) {
  if (argc != 5) return 2;
  iterations = atol(argv[2]);
  int threads = atoi(argv[3]);
  if (strcmp(argv[4], "any") != 0) {
    expect_any = 0;
    long v = atol(argv[4]);
    if (v < 0) expect_errno = (int)-v; else expected = v;
  }
  if (iterations < 1 || threads < 1 || threads > 64) return 2;
  pthread_t tids[64];
  /* The clock starts when every thread has warmed up; the timing thread only waits at the barrier. */
  pthread_barrier_init(&warmed_up, NULL, (unsigned)threads + 1);
  pthread_t clock_thread;
  if (pthread_create(&clock_thread, NULL, start_clock, NULL) != 0) { perror("pthread_create"); return 1; }
  for (int t = 0; t < threads; t++) {
    if (pthread_create(&tids[t], NULL, getppid_loop, NULL) != 0) { perror("pthread_create"); return 1; }
  }
  for (int t = 0; t < threads; t++) pthread_join(tids[t], NULL);
  pthread_join(clock_thread, NULL);
  double elapsed = now_ns() - start;
  double calls = (double)iterations * threads;
  printf("%.1f %.0f\n", elapsed / iterations, calls / (elapsed / 1e9));
  return 0;
}

static int run_mknod(int argc, char **argv) {
  if (argc != 4) return 2;
  char path[4096];
  snprintf(path, sizeof path, "%s/bench-null", argv[2]);
  long n = atol(argv[3]);
  if (n < 1) return 2;
  unlink(path);
  /* Warm-up as for getppid: the first pairs pay for the supervisor's lazy start and JIT. */
  double until = now_ns() + WARMUP_NS;
  do {
    if (mknod(path, S_IFCHR | 0666, makedev(1, 3)) != 0) { fprintf(stderr, "workload: mknod %s: %s\n", path, strerror(errno)); return 1; }
    if (unlink(path) != 0) { fprintf(stderr, "workload: unlink %s: %s\n", path, strerror(errno)); return 1; }
  } while (now_ns() < until);
  double start = now_ns();
  for (long i = 0; i < n; i++) {
    if (mknod(path, S_IFCHR | 0666, makedev(1, 3)) != 0) { fprintf(stderr, "workload: mknod %s: %s\n", path, strerror(errno)); return 1; }
    if (unlink(path) != 0) { fprintf(stderr, "workload: unlink %s: %s\n", path, strerror(errno)); return 1; }
  }
  printf("%.1f\n", (now_ns() - start) / n);
  return 0;
}

static int open_read(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) { fprintf(stderr, "workload: open %s: %s\n", path, strerror(errno)); return -1; }
  size_t len = 0;
  ssize_t r;
  while ((r = read(fd, buf + len, cap - 1 - len)) > 0) len += (size_t)r;
  close(fd);
  if (r < 0) { fprintf(stderr, "workload: read %s: %s\n", path, strerror(errno)); return -1; }
  buf[len] = 0;
  return 0;
}

static int run_openread(int argc, char **argv) {
  if (argc != 5) return 2;
  const char *path = argv[2], *expect = argv[4];
  long n = atol(argv[3]);
  if (n < 1) return 2;
  static char buf[1 << 20];
  /* As sysinfo's: at least N/10 opens, and at least 0.1 s counted from after the first one (which may
   * take a lazy supervisor's start), so the JIT has warmed up on the decide path before the clock. */
  if (open_read(path, buf, sizeof buf) != 0) return 1;
  double until = now_ns() + WARMUP_NS;
  for (long i = 0; i < n / 10 || now_ns() < until; i++) if (open_read(path, buf, sizeof buf) != 0) return 1;
  if (strcmp(expect, "any") != 0 && strstr(buf, expect) == NULL) {
    fprintf(stderr, "workload: %s does not hold \"%s\"\n", path, expect);
    return 1;
  }
  double start = now_ns();
  for (long i = 0; i < n; i++) if (open_read(path, buf, sizeof buf) != 0) return 1;
  printf("%.1f\n", (now_ns() - start) / n);
  return 0;
}

static int run_sysinfo(int argc, char **argv) {
  if (argc != 3) return 2;
  long n = atol(argv[2]);
  if (n < 1) return 2;
  struct sysinfo si;
  /* The warm-up's clock starts after the first call: under a lazy supervisor that call alone may take
   * the data plane's start (~0.1 s), which would leave nothing of the warm-up for the JIT. */
  if (sysinfo(&si) != 0) { fprintf(stderr, "workload: sysinfo: %s\n", strerror(errno)); return 1; }
  double until = now_ns() + WARMUP_NS;
  do {
    if (sysinfo(&si) != 0 || si.totalram == 0) { fprintf(stderr, "workload: sysinfo: %s\n", strerror(errno)); return 1; }
  } while (now_ns() < until);
  double start = now_ns();
  for (long i = 0; i < n; i++) {
    if (sysinfo(&si) != 0 || si.totalram == 0) { fprintf(stderr, "workload: sysinfo: %s\n", strerror(errno)); return 1; }
  }
  printf("%.1f\n", (now_ns() - start) / n);
  return 0;
}

static int run_first_call(int argc, char **argv) {
  if (argc != 3) return 2;
  if (strcmp(argv[2], "any") != 0) {
    expect_any = 0;
    long v = atol(argv[2]);
    if (v < 0) expect_errno = (int)-v; else expected = v;
  }
  double start = now_ns();
  check(syscall(nr));
  printf("%.0f\n", now_ns() - start);
  fflush(stdout);
  for (;;) pause();
}

static int run_hold(void) {
  syscall(SYS_getppid);
  printf("ready\n");
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {}
  return 0;
}

int main(int argc, char **argv) {
  int rc = 2;
  if (argc >= 2 && strcmp(argv[1], "getppid") == 0) rc = run_getppid(argc, argv);
  else if (argc >= 2 && strcmp(argv[1], "getpid") == 0) { nr = SYS_getpid; rc = run_getppid(argc, argv); }
  else if (argc >= 2 && strcmp(argv[1], "mknod") == 0) rc = run_mknod(argc, argv);
  else if (argc >= 2 && strcmp(argv[1], "openread") == 0) rc = run_openread(argc, argv);
  else if (argc >= 2 && strcmp(argv[1], "sysinfo") == 0) rc = run_sysinfo(argc, argv);
  else if (argc >= 2 && strcmp(argv[1], "first-call") == 0) rc = run_first_call(argc, argv);
  else if (argc == 2 && strcmp(argv[1], "hold") == 0) rc = run_hold();
  if (rc == 2) fprintf(stderr, "usage: workload getppid|getpid N THREADS EXPECT | mknod DIR N | openread PATH N EXPECT | first-call EXPECT | hold\n");
  return rc;
}
