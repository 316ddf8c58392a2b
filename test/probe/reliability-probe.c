/*
 * reliability-probe: a workload that does the hostile or unlucky things docs/reliability.md lists, and
 * prints one line per outcome for test/reliability-*.test.ts to assert. The intercepted calls are
 * getppid (policies: getppid-errno → EACCES, read-args, hostile-decisions) and mknod c 1 3 (mknod
 * policy); syscall() is used so libc adds nothing. Every wait is bounded (alarm), so a lost answer
 * ends the probe with SIGALRM instead of hanging a test.
 *
 *   getppid-cases CASE...        one getppid(CASE) per argument: "case C ret=R errno=E"
 *   storm T N P C DIR            phases separated by a line on stdin: T threads × N getppid (×2), then
 *                                P forks (C at a time) each doing N/10 getppid and one mknod DIR/fI
 *   restart DIR FLAGS DELAY_MS   mknod DIR/node interrupted by SIGUSR1 after DELAY_MS; FLAGS restart|norestart
 *   kill-child DIR               a child's mknod is SIGKILLed while pending; then the parent's calls
 *   exit-threads T               a child whose T threads wait in getppid calls exit_group; then the parent's
 *   exec-thread T SELF           T threads wait in getppid while another thread execve's SELF after-exec
 *   last-exit T CODE             T threads wait in getppid while the only process exits with CODE
 *   pending-call N               "calling", then N getppid calls, each "call I ret errno end_ns=MONOTONIC"
 *   hostile-mknod DIR            mknod with NULL, unmapped, unterminated, 1 MiB and PATH_MAX paths
 *   rewrite DIR DELAY_MS         mknod DIR/first… while a thread rewrites the buffer to DIR/other… after DELAY_MS
 *   gone-caller DIR DELAY_MS     a child's mknod DIR/gone, the child SIGKILLed after DELAY_MS
 *   read-args                    getppid(ADDR, CAP, MODE) with hostile ADDRs for the read-args policy
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *errname(int e) { return e == 0 ? "0" : strerrorname_np(e); }

static long ppid_call(long a, long b, long c) { return syscall(SYS_getppid, a, b, c); }

static long mknod_call(const char *path) {
#ifdef SYS_mknod
  return syscall(SYS_mknod, path, S_IFCHR | 0666, makedev(1, 3));
#else
  return syscall(SYS_mknodat, AT_FDCWD, path, S_IFCHR | 0666, makedev(1, 3));
#endif
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static long long monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
}

static const char *node_type(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return "none";
  return S_ISCHR(st.st_mode) ? "chr" : "other";
}

/*
 * One intercepted call answered before the timed part of a case: the supervisor's data plane starts
 * in parallel with the workload, and a signal or kill timed from the workload's start could otherwise
 * arrive before the supervisor has even received the call it is meant to meet.
 */
static void warm_up_getppid(void) { ppid_call(0, 0, 0); }
static void warm_up_mknod(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/warm-up", dir);
  mknod_call(path);
}

/* ---- storms ------------------------------------------------------------------------------------ */

static int storm_calls;
static atomic_long answered_eacces, answered_other;

static void *getppid_worker(void *arg) {
  (void)arg;
  for (int i = 0; i < storm_calls; i++) {
    long r = ppid_call(0, 0, 0);
    if (r == -1 && errno == EACCES) atomic_fetch_add(&answered_eacces, 1);
    else atomic_fetch_add(&answered_other, 1);
  }
  return NULL;
}

static void thread_storm(int threads, const char *label) {
  pthread_t t[256];
  atomic_store(&answered_eacces, 0);
  atomic_store(&answered_other, 0);
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, getppid_worker, NULL);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  say("%s threads=%d calls=%ld eacces=%ld other=%ld\n", label, threads, (long)threads * storm_calls,
      atomic_load(&answered_eacces), atomic_load(&answered_other));
}

static void fork_storm(int total, int concurrent, int calls, const char *dir) {
  int running = 0, ok = 0, started = 0;
  char path[4096];
  while (started < total || running > 0) {
    if (started < total && running < concurrent) {
      snprintf(path, sizeof path, "%s/f%d", dir, started);
      pid_t pid = fork();
      if (pid == 0) {
        int good = 1;
        for (int i = 0; i < calls; i++) if (!(ppid_call(0, 0, 0) == -1 && errno == EACCES)) good = 0;
        if (mknod_call(path) != 0) good = 0;
        _exit(good ? 0 : 1);
      }
      if (pid > 0) { started++; running++; }
      continue;
    }
    int status;
    if (wait(&status) > 0) {
      running--;
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ok++;
    }
  }
  say("forks total=%d ok=%d\n", total, ok);
}

static void wait_for_go(void) {
  char line[64];
  if (!fgets(line, sizeof line, stdin)) exit(3);
}

static int storm(int threads, int calls, int forks, int concurrent, const char *dir) {
  storm_calls = calls / 10;
  thread_storm(threads, "warm");
  say("phase warm\n");
  wait_for_go();
  storm_calls = calls;
  thread_storm(threads, "storm1");
  fork_storm(forks, concurrent, calls / 10, dir);
  say("phase storm1\n");
  wait_for_go();
  thread_storm(threads, "storm2");
  say("phase storm2\n");
  wait_for_go();
  return 0;
}

/* ---- signals, kills, exits, execs ------------------------------------------------------------- */

static volatile sig_atomic_t handled;
static void on_usr1(int sig) { (void)sig; handled++; }
static pthread_t main_thread;
static long signal_delay_ms;

static void *signal_main_later(void *arg) {
  (void)arg;
  sleep_ms(signal_delay_ms);
  pthread_kill(main_thread, SIGUSR1);
  return NULL;
}

static int restart(const char *dir, const char *flags, long delay_ms) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = strcmp(flags, "restart") == 0 ? SA_RESTART : 0;
  sigaction(SIGUSR1, &sa, NULL);
  char path[4096];
  snprintf(path, sizeof path, "%s/node", dir);
  warm_up_mknod(dir);
  main_thread = pthread_self();
  signal_delay_ms = delay_ms;
  pthread_t t;
  pthread_create(&t, NULL, signal_main_later, NULL);
  errno = 0;
  long r = mknod_call(path);
  int e = r == 0 ? 0 : errno;
  pthread_join(t, NULL);
  say("restart %s ret=%ld errno=%s handled=%d node=%s\n", flags, r, errname(e), (int)handled, node_type(path));
  return 0;
}

static void report_call(const char *label, long r) {
  say("%s ret=%ld errno=%s\n", label, r, errname(r == -1 ? errno : 0));
}

static int kill_child(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/killed", dir);
  warm_up_getppid();
  pid_t pid = fork();
  if (pid == 0) { mknod_call(path); _exit(0); }
  sleep_ms(200);
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  say("child killed=%d\n", WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  snprintf(path, sizeof path, "%s/after", dir);
  errno = 0;
  long r = mknod_call(path);
  say("after-mknod ret=%ld errno=%s node=%s\n", r, errname(r ? errno : 0), node_type(path));
  report_call("after-getppid", ppid_call(0, 0, 0));
  return 0;
}

static void *pending_getppid(void *arg) {
  (void)arg;
  ppid_call(0, 0, 0);
  return NULL;
}

static void start_pending(int threads) {
  pthread_t t;
  for (int i = 0; i < threads; i++) pthread_create(&t, NULL, pending_getppid, NULL);
  sleep_ms(200);
}

static int exit_threads(int threads) {
  warm_up_getppid();
  pid_t pid = fork();
  if (pid == 0) {
    start_pending(threads);
    syscall(SYS_exit_group, 5);
  }
  int status;
  waitpid(pid, &status, 0);
  say("child exited=%d status=%d\n", WIFEXITED(status), WEXITSTATUS(status));
  for (int i = 0; i < 3; i++) report_call("after-getppid", ppid_call(0, 0, 0));
  return 0;
}

static const char *exec_self;
static void *exec_later(void *arg) {
  (void)arg;
  sleep_ms(200);
  char *const argv[] = {(char *)exec_self, "after-exec", NULL};
  execv(exec_self, argv);
  say("execv failed errno=%s\n", errname(errno));
  _exit(1);
}

static int exec_thread(int threads, const char *self) {
  exec_self = self;
  warm_up_getppid();
  start_pending(threads);
  pthread_t t;
  pthread_create(&t, NULL, exec_later, NULL);
  ppid_call(0, 0, 0); /* the main thread waits too */
  pause();
  return 1;
}

static int after_exec(void) {
  say("exec done\n");
  for (int i = 0; i < 3; i++) report_call("after-exec-getppid", ppid_call(0, 0, 0));
  return 0;
}

static int last_exit(int threads, int code) {
  warm_up_getppid();
  start_pending(threads);
  say("exiting with %d calls pending\n", threads);
  syscall(SYS_exit_group, code);
  return 1;
}

static int pending_call(int n) {
  say("calling pid=%d\n", getpid());
  for (int i = 0; i < n; i++) {
    errno = 0;
    long r = ppid_call(0, 0, 0);
    say("call %d ret=%ld errno=%s end_ns=%lld\n", i, r, errname(r == -1 ? errno : 0), monotonic_ns());
  }
  return 0;
}

/* ---- hostile arguments ------------------------------------------------------------------------ */

/* A page that ends just before an unmapped page: a string filling it has no NUL the caller can map. */
static char *page_before_hole(void) {
  long page = sysconf(_SC_PAGESIZE);
  char *two = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (two == MAP_FAILED) { perror("mmap"); exit(1); }
  munmap(two + page, page);
  return two;
}

static char *unmapped_address(void) {
  long page = sysconf(_SC_PAGESIZE);
  char *p = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  munmap(p, page);
  return p;
}

static void try_mknod(const char *name, const char *path) {
  errno = 0;
  long r = mknod_call(path);
  say("%s ret=%ld errno=%s\n", name, r, errname(r ? errno : 0));
}

static int hostile_mknod(const char *dir) {
  if (chdir(dir) != 0) { perror("chdir"); return 1; }
  long page = sysconf(_SC_PAGESIZE);
  try_mknod("null", NULL);
  try_mknod("unmapped", unmapped_address());
  char *edge = page_before_hole();
  memset(edge, 'u', page);
  try_mknod("unterminated_page", edge);
  try_mknod("unterminated_at_hole", edge + page - 100);
  /* The last byte before the hole is the NUL: a valid (long) relative name, too long for a component. */
  edge[page - 1] = 0;
  try_mknod("terminated_at_edge", edge);
  /* A short name at the very end of the page, NUL last. */
  memcpy(edge + page - 6, "edge1", 6);
  try_mknod("short_at_edge", edge + page - 6);
  size_t mib = 1 << 20;
  char *big = malloc(mib + 1);
  memset(big, 'm', mib);
  big[mib] = 0;
  try_mknod("one_mib", big);
  for (size_t i = 1; i < mib; i += 2) big[i] = '/';
  try_mknod("one_mib_slashes", big);
  char exact[4097];
  memset(exact, 'x', 4096);
  for (int i = 100; i < 4096; i += 101) exact[i] = '/';
  exact[4095] = 0; /* 4095 characters + NUL = PATH_MAX: accepted by getname */
  try_mknod("path_max_minus_1", exact);
  exact[4095] = 'x';
  exact[4096] = 0; /* 4096 characters: ENAMETOOLONG */
  try_mknod("path_max", exact);
  try_mknod("empty", "");
  free(big);
  return 0;
}

static char rewrite_buf[4096];
static char rewrite_to[4096];
static void *rewrite_later(void *arg) {
  (void)arg;
  sleep_ms(signal_delay_ms);
  /* Same length: every byte position flips, so no mixture can name either path. */
  memcpy(rewrite_buf, rewrite_to, strlen(rewrite_to) + 1);
  return NULL;
}

static int rewrite(const char *dir, long delay_ms) {
  snprintf(rewrite_buf, sizeof rewrite_buf, "%s/first-path", dir);
  snprintf(rewrite_to, sizeof rewrite_to, "%s/other-path", dir);
  char first[4096];
  strcpy(first, rewrite_buf);
  warm_up_mknod(dir);
  signal_delay_ms = delay_ms;
  pthread_t t;
  pthread_create(&t, NULL, rewrite_later, NULL);
  errno = 0;
  long r = mknod_call(rewrite_buf);
  int e = r ? errno : 0;
  pthread_join(t, NULL);
  say("rewrite ret=%ld errno=%s buffer-now=%s first=%s other=%s\n", r, errname(e),
      strcmp(rewrite_buf, rewrite_to) == 0 ? "other" : "first", node_type(first), node_type(rewrite_to));
  return 0;
}

static int gone_caller(const char *dir, long delay_ms) {
  char path[4096];
  snprintf(path, sizeof path, "%s/gone", dir);
  warm_up_mknod(dir);
  pid_t pid = fork();
  if (pid == 0) { mknod_call(path); _exit(0); }
  sleep_ms(delay_ms);
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  say("child killed=%d\n", WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  snprintf(path, sizeof path, "%s/alive", dir);
  errno = 0;
  long r = mknod_call(path); /* answered after the gone child's emulation was abandoned */
  snprintf(path, sizeof path, "%s/gone", dir);
  say("gone node=%s; alive ret=%ld\n", node_type(path), r);
  return 0;
}

static void read_case(const char *name, const void *addr, long cap, long mode) {
  errno = 0;
  long r = ppid_call((long)addr, cap, mode);
  say("%s ret=%ld errno=%s\n", name, r, errname(r == -1 ? errno : 0));
}

static int read_args(void) {
  long page = sysconf(_SC_PAGESIZE);
  read_case("string_ok", "hello", 64, 0);
  read_case("string_null", NULL, 64, 0);
  read_case("string_unmapped", unmapped_address(), 64, 0);
  char *edge = page_before_hole();
  memset(edge, 'u', page);
  read_case("string_unterminated_at_hole", edge, 2 * page, 0);
  read_case("string_longer_than_cap", edge, 16, 0);
  read_case("string_cap_zero", "hello", 0, 0);
  size_t mib = 1 << 20;
  char *big = malloc(mib + 1);
  memset(big, 'm', mib);
  big[mib] = 0;
  read_case("string_one_mib", big, mib + 1, 0);
  read_case("string_one_mib_small_cap", big, 4096, 0);
  read_case("memory_ok", "abcdefgh", 8, 1);
  read_case("memory_null", NULL, 8, 1);
  read_case("memory_straddles_hole", edge + page - 4, 16, 1);
  read_case("memory_unmapped", unmapped_address(), 16, 1);
  read_case("memory_one_mib", big, mib, 1);
  read_case("memory_kernel_address", (void *)0xffffffff81000000UL, 16, 1);
  read_case("memory_noncanonical", (void *)0x8000000000000000UL, 16, 1);
  free(big);
  return 0;
}

int main(int argc, char **argv) {
  alarm(60);
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *m = argc > 1 ? argv[1] : "";
  if (strcmp(m, "getppid-cases") == 0) {
    for (int i = 2; i < argc; i++) {
      errno = 0;
      long c = atol(argv[i]);
      long r = ppid_call(c, 0, 0);
      say("case %ld ret=%ld errno=%s\n", c, r, errname(r == -1 ? errno : 0));
    }
    return 0;
  }
  if (strcmp(m, "storm") == 0 && argc == 7) return storm(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), argv[6]);
  if (strcmp(m, "restart") == 0 && argc == 5) return restart(argv[2], argv[3], atol(argv[4]));
  if (strcmp(m, "kill-child") == 0 && argc == 3) return kill_child(argv[2]);
  if (strcmp(m, "exit-threads") == 0 && argc == 3) return exit_threads(atoi(argv[2]));
  if (strcmp(m, "exec-thread") == 0 && argc == 4) return exec_thread(atoi(argv[2]), argv[3]);
  if (strcmp(m, "after-exec") == 0) return after_exec();
  if (strcmp(m, "last-exit") == 0 && argc == 4) return last_exit(atoi(argv[2]), atoi(argv[3]));
  if (strcmp(m, "pending-call") == 0 && argc == 3) return pending_call(atoi(argv[2]));
  if (strcmp(m, "hostile-mknod") == 0 && argc == 3) return hostile_mknod(argv[2]);
  if (strcmp(m, "rewrite") == 0 && argc == 4) return rewrite(argv[2], atol(argv[3]));
  if (strcmp(m, "gone-caller") == 0 && argc == 4) return gone_caller(argv[2], atol(argv[3]));
  if (strcmp(m, "read-args") == 0) return read_args();
  fprintf(stderr, "reliability-probe: bad arguments (see the comment at the top of test/probe/reliability-probe.c)\n");
  return 2;
}
