/*
 * signal-threads PID ROUNDS SIGNAL: ROUNDS times, every 2 ms, sends SIGNAL to every thread of process
 * PID with tgkill (thread-directed, so it reaches a thread that a process-directed signal would not
 * pick). For tests that a supervisor's thread interrupted mid-call still answers correctly. Exits 0
 * when the process is gone.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: signal-threads PID ROUNDS SIGNAL\n"); return 2; }
  int pid = atoi(argv[1]), rounds = atoi(argv[2]), sig = atoi(argv[3]);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", pid);
  struct timespec pause = {0, 2000000};
  for (int i = 0; i < rounds; i++) {
    DIR *d = opendir(path);
    if (d == NULL) return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      int tid = atoi(e->d_name);
      if (tid > 0) syscall(SYS_tgkill, pid, tid, sig);
    }
    closedir(d);
    nanosleep(&pause, NULL);
  }
  return 0;
}
