/*
 * sched-probe: the scheduling calls the SCHED primitive emulates, raw, one line of output each.
 *
 *   sched-probe setscheduler PID POLICY PRIO        "ret=N errno=NAME"
 *   sched-probe setparam PID PRIO                   "ret=N errno=NAME"
 *   sched-probe setattr PID POLICY PRIO NICE FLAGS  sched_attr of 48 bytes: "ret=N errno=NAME"
 *   sched-probe get PID                             "policy=N priority=N nice=N" (sched_getattr)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct attr {
  uint32_t size, policy;
  uint64_t flags;
  int32_t nice;
  uint32_t priority;
  uint64_t runtime, deadline, period;
};

static void report(long ret) {
  printf("ret=%ld errno=%s\n", ret, ret < 0 ? strerrorname_np(errno) : "0");
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "setscheduler") == 0) {
    struct sched_param p = {.sched_priority = atoi(argv[4])};
    report(syscall(SYS_sched_setscheduler, atoi(argv[2]), atoi(argv[3]), &p));
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "setparam") == 0) {
    struct sched_param p = {.sched_priority = atoi(argv[3])};
    report(syscall(SYS_sched_setparam, atoi(argv[2]), &p));
    return 0;
  }
  if (argc == 7 && strcmp(argv[1], "setattr") == 0) {
    struct attr a = {.size = 48, .policy = (uint32_t)atoi(argv[3]), .priority = (uint32_t)atoi(argv[4]),
                     .nice = atoi(argv[5]), .flags = strtoull(argv[6], NULL, 0)};
    report(syscall(SYS_sched_setattr, atoi(argv[2]), &a, 0));
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "get") == 0) {
    struct attr a = {0};
    if (syscall(SYS_sched_getattr, atoi(argv[2]), &a, sizeof a, 0) < 0) { report(-1); return 0; }
    printf("policy=%u priority=%u nice=%d\n", a.policy, a.priority, a.nice);
    return 0;
  }
  fprintf(stderr, "usage: sched-probe setscheduler PID POLICY PRIO | setparam PID PRIO | setattr PID POLICY PRIO NICE FLAGS | get PID\n");
  return 2;
}
