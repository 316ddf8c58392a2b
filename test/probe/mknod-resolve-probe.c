/*
 * mknod-resolve-probe: the attacker's side of test/security/mknod-resolve.test.ts, run as root of a
 * user namespace under `wasmsup run --userns --policy mknod.wasm`.
 *
 *   mknod-resolve-probe race BASE TRIES SECONDS
 *     BASE holds w (a directory this caller may write), l1 and l2 (symlinks, one to w, the other to a
 *     directory it may not write). A thread swaps l1 and l2 with renameat2(RENAME_EXCHANGE) without
 *     pause while the main thread calls mknod("BASE/l1/nI", S_IFCHR|0666, 1:3) up to TRIES times or
 *     for SECONDS. A success whose node is not in w was created in the other directory: a won race.
 *     Prints "tries=N created=N won=N eacces=N eperm=N other=N".
 *
 *   mknod-resolve-probe magic OUTSIDE FDS
 *     mknod through /proc's magic links, each aimed at the absolute directory OUTSIDE (outside this
 *     process's root): /proc/self/root, /proc/thread-self/root, /proc/self/cwd, and
 *     /proc/self/fd/N for N in 0..FDS-1. Prints one line per call: "NAME ret=R errno=E".
 *
 * Built statically by the tests so it can also run inside a bare chroot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static atomic_int stop;
static int base_fd;

static void *swapper(void *arg) {
  (void)arg;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    syscall(SYS_renameat2, base_fd, "l1", base_fd, "l2", RENAME_EXCHANGE);
  }
  return NULL;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int race(const char *base, long tries, double seconds) {
  base_fd = open(base, O_PATH | O_DIRECTORY);
  if (base_fd < 0) { perror("open base"); return 1; }
  pthread_t thread;
  if (pthread_create(&thread, NULL, swapper, NULL) != 0) { perror("pthread_create"); return 1; }
  long n = 0, created = 0, won = 0, eacces = 0, eperm = 0, other = 0;
  char path[4096], mine[4096];
  double deadline = now() + seconds;
  for (; n < tries && ((n & 63) != 0 || now() < deadline); n++) {
    snprintf(path, sizeof path, "%s/l1/n%ld", base, n);
    if (mknod(path, S_IFCHR | 0666, makedev(1, 3)) == 0) {
      snprintf(mine, sizeof mine, "w/n%ld", n);
      if (unlinkat(base_fd, mine, 0) == 0) created++;
      else won++;
    } else if (errno == EACCES) {
      eacces++;
    } else if (errno == EPERM) {
      eperm++;
    } else {
      other++;
    }
  }
  atomic_store(&stop, 1);
  pthread_join(thread, NULL);
  printf("tries=%ld created=%ld won=%ld eacces=%ld eperm=%ld other=%ld\n", n, created, won, eacces, eperm, other);
  return 0;
}

static void attempt(const char *name, const char *path) {
  errno = 0;
  int r = mknod(path, S_IFCHR | 0666, makedev(1, 3));
  printf("%s ret=%d errno=%s\n", name, r, r == 0 ? "0" : strerrorname_np(errno));
}

static int magic(const char *outside, int fds) {
  char path[4096], name[64];
  const char *rel = outside + strspn(outside, "/");
  snprintf(path, sizeof path, "/proc/self/root/%s/via-self-root", rel);
  attempt("self_root", path);
  snprintf(path, sizeof path, "/proc/thread-self/root/%s/via-thread-self-root", rel);
  attempt("thread_self_root", path);
  /* The supervisor runs with its cwd in OUTSIDE (the test arranges it). */
  attempt("self_cwd", "/proc/self/cwd/via-self-cwd");
  for (int fd = 0; fd < fds; fd++) {
    /* An fd of a directory outside: its own name, or the host's root followed by OUTSIDE. */
    snprintf(name, sizeof name, "self_fd_%d", fd);
    snprintf(path, sizeof path, "/proc/self/fd/%d/via-fd-%d", fd, fd);
    attempt(name, path);
    snprintf(name, sizeof name, "self_fd_%d_abs", fd);
    snprintf(path, sizeof path, "/proc/self/fd/%d/%s/via-fd-%d-abs", fd, rel, fd);
    attempt(name, path);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "race") == 0) return race(argv[2], atol(argv[3]), atof(argv[4]));
  if (argc == 4 && strcmp(argv[1], "magic") == 0) return magic(argv[2], atoi(argv[3]));
  fprintf(stderr, "usage: mknod-resolve-probe race BASE TRIES SECONDS | magic OUTSIDE FDS\n");
  return 2;
}
