/* eintr-probe DIR N: N rounds of mknod(DIR/node, S_IFCHR|0600, makedev(1, 3)) and unlink under a 100 µs
 * interval timer whose SIGALRM handler is installed without SA_RESTART, as a program with a profiling
 * or watchdog timer has. ext4's own mknod never fails with EINTR; an emulated one can, when the signal
 * arrives while the call waits for its supervisor. Counts how often, and how often the node was made
 * anyway (EINTR after the effect: the case --wait-killable exists to close).
 * Output: "calls=N ok=A eintr=B eintr_with_node=C other=D". */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t ticks;
static void on_alarm(int sig) { (void)sig; ticks++; }

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: eintr-probe DIR N\n"); return 2; }
  char path[4096];
  snprintf(path, sizeof path, "%s/node", argv[1]);
  long n = strtol(argv[2], NULL, 10);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;  /* no SA_RESTART */
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGALRM, &sa, NULL) < 0) { perror("sigaction"); return 1; }
  struct itimerval timer = {{0, 100}, {0, 100}};
  if (setitimer(ITIMER_REAL, &timer, NULL) < 0) { perror("setitimer"); return 1; }
  long ok = 0, eintr = 0, eintr_with_node = 0, other = 0;
  for (long i = 0; i < n; i++) {
    int r = mknod(path, S_IFCHR | 0600, makedev(1, 3));
    if (r == 0) ok++;
    else if (errno == EINTR) {
      eintr++;
      struct stat st;
      if (lstat(path, &st) == 0) eintr_with_node++;
    } else {
      other++;
      if (other == 1) fprintf(stderr, "mknod: %s\n", strerror(errno));
    }
    while (unlink(path) < 0 && errno == EINTR) {}
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  printf("calls=%ld ok=%ld eintr=%ld eintr_with_node=%ld other=%ld\n", n, ok, eintr, eintr_with_node, other);
  return 0;
}
