/* Reload-under-load probe: THREADS threads call getppid(2) through syscall(2) in a tight loop until
 * STOPFILE exists, and count every answer: 4242 (the getppid-return policy), EACCES (getppid-errno),
 * or anything else (which must never happen). Prints "calls N return R eacces E other O" on stdout,
 * then the first unexpected answers, if any. It writes "started" once every thread has been answered. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *stopfile;
static atomic_int started;
static atomic_long unexpected_value = 0;

struct tally { long calls, ret, eacces, other; };

static void *loop(void *arg) {
  struct tally *t = arg;
  int announced = 0;
  for (;;) {
    for (int i = 0; i < 64; i++) {
      errno = 0;
      long r = syscall(SYS_getppid);
      t->calls++;
      if (r == 4242) t->ret++;
      else if (r == -1 && errno == EACCES) t->eacces++;
      else { t->other++; atomic_store(&unexpected_value, r == -1 ? -errno : r); }
    }
    if (!announced) { announced = 1; atomic_fetch_add(&started, 1); }
    if (access(stopfile, F_OK) == 0) return NULL;
  }
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s THREADS STOPFILE\n", argv[0]); return 2; }
  int n = atoi(argv[1]);
  stopfile = argv[2];
  pthread_t threads[64];
  struct tally tallies[64] = {0};
  if (n < 1 || n > 64) return 2;
  for (int i = 0; i < n; i++) pthread_create(&threads[i], NULL, loop, &tallies[i]);
  while (atomic_load(&started) < n) usleep(1000);
  printf("started\n");
  fflush(stdout);
  struct tally sum = {0};
  for (int i = 0; i < n; i++) {
    pthread_join(threads[i], NULL);
    sum.calls += tallies[i].calls; sum.ret += tallies[i].ret; sum.eacces += tallies[i].eacces; sum.other += tallies[i].other;
  }
  printf("calls %ld return %ld eacces %ld other %ld last-unexpected %ld\n", sum.calls, sum.ret, sum.eacces, sum.other,
         atomic_load(&unexpected_value));
  return 0;
}
