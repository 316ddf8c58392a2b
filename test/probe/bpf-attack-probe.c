/* Attacks on the bpf-devices emulation, as a hostile workload would make them (test/security/bpf-devices.test.ts).
 *
 *   bpf-attack-probe attack SOCK LINK_VICTIM USERNS_VICTIM UID_VICTIM
 *     Run by wasmsup as root of the workload's user namespace, in its delegated cgroup. Loads a device
 *     program denying /dev/null through the emulation, then tries to attach it to cgroups outside the
 *     delegated subtree: (a) BPF_LINK_CREATE on LINK_VICTIM; (b) BPF_PROG_ATTACH on USERNS_VICTIM from
 *     a child that unshared a new user namespace; (c) BPF_PROG_ATTACH on UID_VICTIM from a child that
 *     became uid 1000 (no capabilities); (e) hands the program fd over the unix socket SOCK to a process
 *     outside the filter. (d) loads programs calling bpf_probe_read_kernel, bpf_get_current_task and
 *     referencing a map by fd. Loads three programs and closes them, then one more. Then prints "hold" and waits for a line on stdin (the test queries the
 *     victims meanwhile: a link lives as long as its fd).
 *   bpf-attack-probe receive SOCK VICTIM
 *     Outside wasmsup, unprivileged: receives one fd on SOCK and tries BPF_PROG_ATTACH with it on VICTIM.
 *   bpf-attack-probe query DIR
 *     As host root: the number of BPF_CGROUP_DEVICE programs attached to the cgroup2 directory DIR.
 *
 * One "step key=value..." line per step. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf-probe.h"

static const struct insn deny_null[] = {
  INSN(0x61, 2, 1, 0, 0), INSN(0x57, 2, 0, 0, 0xffff), INSN(0x61, 3, 1, 4, 0), INSN(0x61, 4, 1, 8, 0),
  INSN(0x55, 2, 0, 4, 2), INSN(0x55, 3, 0, 3, 1), INSN(0x55, 4, 0, 2, 3),
  INSN(0xb7, 0, 0, 0, 0), INSN(0x95, 0, 0, 0, 0), INSN(0xb7, 0, 0, 0, 1), INSN(0x95, 0, 0, 0, 0),
};
/* bpf_probe_read_kernel(fp - 8, 8, NULL): reads kernel memory. */
static const struct insn read_kernel[] = {
  INSN(0xbf, 1, 10, 0, 0), INSN(0x07, 1, 0, 0, -8), INSN(0xb7, 2, 0, 0, 8), INSN(0xb7, 3, 0, 0, 0),
  INSN(0x85, 0, 0, 0, 113), INSN(0xb7, 0, 0, 0, 1), INSN(0x95, 0, 0, 0, 0),
};
/* bpf_get_current_task(): a kernel pointer. */
static const struct insn current_task[] = {
  INSN(0x85, 0, 0, 0, 35), INSN(0xb7, 0, 0, 0, 1), INSN(0x95, 0, 0, 0, 0),
};
/* r1 = map fd 3 (BPF_PSEUDO_MAP_FD): resolved in the loader's fd table. */
static const struct insn map_ref[] = {
  INSN(0x18, 1, 1, 0, 3), INSN(0x00, 0, 0, 0, 0), INSN(0xb7, 0, 0, 0, 1), INSN(0x95, 0, 0, 0, 0),
};

static long load(const struct insn *insns, unsigned count) {
  struct load_attr a;
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  a.insn_cnt = count;
  a.insns = (uintptr_t)insns;
  a.license = (uintptr_t)"GPL";
  return sys_bpf(BPF_PROG_LOAD, &a, sizeof a);
}

static long prog_attach(int target, int prog) {
  uint32_t a[5] = { (uint32_t)target, (uint32_t)prog, BPF_CGROUP_DEVICE, 0, 0 };
  return sys_bpf(BPF_PROG_ATTACH, a, sizeof a);
}

static void report(const char *step, long r) { printf("%s ret=%d errno=%s\n", step, r < 0 ? -1 : 0, ename(r < 0 ? errno : 0)); }

static int open_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) { printf("open %s errno=%s\n", path, ename(errno)); exit(1); }
  return fd;
}

static int unix_address(const char *path, struct sockaddr_un *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  snprintf(sa->sun_path, sizeof sa->sun_path, "%s", path);
  return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

static int attack(char **argv) {
  int link_victim = open_dir(argv[3]), userns_victim = open_dir(argv[4]), uid_victim = open_dir(argv[5]);
  long prog = load(deny_null, sizeof deny_null / sizeof deny_null[0]);
  report("load", prog);
  if (prog < 0) return 1;

  /* (a) A link needs no capability on this kernel, only the program fd and a cgroup fd. */
  uint32_t link[4] = { (uint32_t)prog, (uint32_t)link_victim, BPF_CGROUP_DEVICE, 0 };
  long l = sys_bpf(BPF_LINK_CREATE, link, sizeof link);
  report("link_create", l);

  /* (b) A new user namespace: not the workload's, so not the policy's business unless it says so. */
  pid_t pid = fork();
  if (pid == 0) {
    if (unshare(CLONE_NEWUSER) != 0) { printf("userns_attach unshare errno=%s\n", ename(errno)); _exit(1); }
    report("userns_attach", prog_attach(userns_victim, (int)prog));
    _exit(0);
  }
  waitpid(pid, NULL, 0);

  /* (c) An ordinary uid of the workload, without capabilities. */
  pid = fork();
  if (pid == 0) {
    if (setgroups(0, NULL) != 0 || setresgid(1000, 1000, 1000) != 0 || setresuid(1000, 1000, 1000) != 0) {
      printf("uid_attach setresuid errno=%s\n", ename(errno));
      _exit(1);
    }
    report("uid_attach", prog_attach(uid_victim, (int)prog));
    _exit(0);
  }
  waitpid(pid, NULL, 0);

  /* (e) The program fd, handed to a process the filter never sees. */
  struct sockaddr_un sa;
  int s = unix_address(argv[2], &sa);
  if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
    printf("handover connect errno=%s\n", ename(errno));
  } else {
    char byte = 'p', cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { &byte, 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    int fd = (int)prog;
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    report("handover", sendmsg(s, &m, 0));
    char done;
    (void)!read(s, &done, 1); /* the receiver has tried when it closes */
  }
  close(s);

  /* (d) Helpers no unprivileged loader gets, and a map named by fd (the loader's fd table). */
  long r = load(read_kernel, sizeof read_kernel / sizeof read_kernel[0]);
  report("probe_read_kernel", r);
  r = load(current_task, sizeof current_task / sizeof current_task[0]);
  report("get_current_task", r);
  r = load(map_ref, sizeof map_ref / sizeof map_ref[0]);
  report("map_ref", r);

  /* Tokens dropped: the host lets their programs go by the next load; one more stays held. */
  long dropped[3];
  for (int i = 0; i < 3; i++) dropped[i] = load(deny_null, sizeof deny_null / sizeof deny_null[0]);
  for (int i = 0; i < 3; i++) if (dropped[i] >= 0) close((int)dropped[i]);
  report("reload", load(deny_null, sizeof deny_null / sizeof deny_null[0]));

  printf("hold\n");
  char line[8];
  (void)!read(0, line, sizeof line);
  if (l >= 0) close((int)l);
  return 0;
}

static int receive(char **argv) {
  struct sockaddr_un sa;
  int s = unix_address(argv[2], &sa);
  umask(0); /* the workload's root is another uid: it must be able to connect */
  if (bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s, 1) != 0) { printf("listen errno=%s\n", ename(errno)); return 1; }
  int victim = open_dir(argv[3]);
  printf("listening\n");
  int c = accept(s, NULL, NULL);
  char byte, cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = { &byte, 1 };
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  if (c < 0 || recvmsg(c, &m, 0) < 1 || CMSG_FIRSTHDR(&m) == NULL) { printf("outsider_attach received=0\n"); return 1; }
  int fd;
  memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
  report("outsider_attach", prog_attach(victim, fd));
  close(c);
  return 0;
}

static int query(char **argv) {
  int dir = open_dir(argv[2]);
  uint32_t ids[64];
  struct { uint32_t target_fd, attach_type, query_flags, attach_flags; uint64_t prog_ids; uint32_t prog_cnt; } q = {
    (uint32_t)dir, BPF_CGROUP_DEVICE, 0, 0, (uintptr_t)ids, 64,
  };
  if (sys_bpf(BPF_PROG_QUERY, &q, sizeof q) != 0) { printf("query errno=%s\n", ename(errno)); return 1; }
  printf("attached=%u\n", q.prog_cnt);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 6 && strcmp(argv[1], "attack") == 0) return attack(argv);
  if (argc == 4 && strcmp(argv[1], "receive") == 0) return receive(argv);
  if (argc == 3 && strcmp(argv[1], "query") == 0) return query(argv);
  fprintf(stderr, "usage: bpf-attack-probe attack SOCK LINK USERNS UID | receive SOCK VICTIM | query DIR\n");
  return 2;
}
