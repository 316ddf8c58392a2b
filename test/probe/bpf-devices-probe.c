/* What a nested container runtime (runc, crun) does to enforce device rules on cgroup2: load a
 * BPF_PROG_TYPE_CGROUP_DEVICE program with bpf(2) and attach it to the container's cgroup. Run as root
 * of a user namespace that owns the cgroup2 directory ROOT (and started in it):
 *
 *   bpf-devices-probe ROOT TOP
 *
 * creates ROOT/ctr, loads a program denying /dev/null (char 1:3), attaches it to ROOT/ctr, and checks
 * from a child moved into ROOT/ctr that /dev/null is refused and /dev/zero is not; then detaches it and
 * checks again. Also: the verifier log of a bad program, the i386 entry, attaching where it must be
 * refused (ROOT itself, which holds the supervisor, and TOP, the cgroup2 mount's root). One
 * "step key=value..." line per step. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf-probe.h"

/* union bpf_attr for BPF_PROG_LOAD up to log_true_size (6.4+), 144 bytes. */
/* ctx = struct bpf_cgroup_dev_ctx { u32 access_type (type | access << 16); u32 major, minor; }:
 * char 1:3 -> 0 (deny), anything else -> 1 (allow). */
static const struct insn deny_null[] = {
  INSN(0x61, 2, 1, 0, 0),      /* r2 = *(u32 *)(r1 + 0) */
  INSN(0x57, 2, 0, 0, 0xffff), /* r2 &= 0xffff: the device type */
  INSN(0x61, 3, 1, 4, 0),      /* r3 = major */
  INSN(0x61, 4, 1, 8, 0),      /* r4 = minor */
  INSN(0x55, 2, 0, 4, 2),      /* if r2 != BPF_DEVCG_DEV_CHAR goto allow */
  INSN(0x55, 3, 0, 3, 1),      /* if r3 != 1 goto allow */
  INSN(0x55, 4, 0, 2, 3),      /* if r4 != 3 goto allow */
  INSN(0xb7, 0, 0, 0, 0),      /* r0 = 0 */
  INSN(0x95, 0, 0, 0, 0),      /* exit */
  INSN(0xb7, 0, 0, 0, 1),      /* allow: r0 = 1 */
  INSN(0x95, 0, 0, 0, 0),      /* exit */
};
/* Returns r0 without setting it: the verifier refuses it ("R0 !read_ok"). */
static const struct insn bad[] = { INSN(0x95, 0, 0, 0, 0) };

static char log_buf[65536];

static long load(const struct insn *insns, unsigned count, uint32_t type, struct load_attr *a) {
  memset(a, 0, sizeof *a);
  memset(log_buf, 0, sizeof log_buf);
  a->prog_type = type;
  a->insn_cnt = count;
  a->insns = (uintptr_t)insns;
  a->license = (uintptr_t)"GPL";
  a->log_level = 1;
  a->log_size = sizeof log_buf;
  a->log_buf = (uintptr_t)log_buf;
  return sys_bpf(BPF_PROG_LOAD, a, sizeof *a);
}

static int lowest_free_fd(void) {
  int fd = dup(0);
  close(fd);
  return fd;
}

static long attach(int cmd, int target, int prog) {
  struct attach_attr a = { (uint32_t)target, (uint32_t)prog, BPF_CGROUP_DEVICE, 0, 0 };
  return sys_bpf(cmd, &a, sizeof a);
}

/* In a child moved into cgroup `dir`: the errno of opening /dev/null and /dev/zero. */
static void try_devices(const char *step, const char *dir) {
  pid_t pid = fork();
  if (pid == 0) {
    char procs[4096];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
    int fd = open(procs, O_WRONLY);
    if (fd < 0 || write(fd, "0", 1) != 1) { printf("%s move errno=%s\n", step, ename(errno)); fflush(stdout); _exit(1); }
    close(fd);
    int n = open("/dev/null", O_RDWR), nerr = n < 0 ? errno : 0;
    int z = open("/dev/zero", O_RDONLY), zerr = z < 0 ? errno : 0;
    printf("%s null=%s zero=%s\n", step, ename(nerr), ename(zerr));
    fflush(stdout);
    _exit(0);
  }
  int status;
  waitpid(pid, &status, 0);
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: bpf-devices-probe ROOT TOP\n"); return 2; }
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *root = argv[1];
  char ctr[4096];
  snprintf(ctr, sizeof ctr, "%s/ctr", root);
  if (mkdir(ctr, 0755) != 0) { printf("mkdir errno=%s\n", ename(errno)); return 1; }

  struct load_attr a;
  int expected_fd = lowest_free_fd();
  long prog = load(deny_null, sizeof deny_null / sizeof deny_null[0], BPF_PROG_TYPE_CGROUP_DEVICE, &a);
  if (prog < 0) {
    printf("load ret=-1 errno=%s\n", ename(errno));
  } else {
    printf("load ok lowest_fd=%d cloexec=%d log_true_size_set=%d\n", (int)prog == expected_fd,
           (fcntl((int)prog, F_GETFD) & FD_CLOEXEC) != 0, a.log_true_size > 0);
  }

  long b = load(bad, 1, BPF_PROG_TYPE_CGROUP_DEVICE, &a);
  char first_line[128] = "";
  sscanf(log_buf, "%127[^\n]", first_line);
  printf("badload ret=%ld errno=%s log_true_size_matches=%d log_has_r0=%d\n", b, ename(b < 0 ? errno : 0),
         a.log_true_size == strlen(log_buf) + 1, strstr(log_buf, "R0 !read_ok") != NULL);

  long s = load(deny_null, sizeof deny_null / sizeof deny_null[0], BPF_PROG_TYPE_SOCKET_FILTER, &a);
  printf("socketfilter ret=%d errno=%s\n", s < 0 ? -1 : 0, ename(s < 0 ? errno : 0));
  if (s >= 0) close((int)s);

#if defined(__x86_64__)
  /* The i386 entry: bpf is 357 there, and union bpf_attr has the same layout (its pointers are u64). */
  struct load_attr *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (low != MAP_FAILED) {
    load(deny_null, sizeof deny_null / sizeof deny_null[0], BPF_PROG_TYPE_CGROUP_DEVICE, &a);
    memcpy(low, &a, sizeof a);
    low->log_level = 0; low->log_size = 0; low->log_buf = 0;
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(357L), "b"(BPF_PROG_LOAD), "c"((long)low), "d"((long)sizeof a) : "memory");
    printf("load_i386 ok=%d errno=%s\n", r >= 0, ename(r < 0 ? (int)-r : 0));
    if (r >= 0) close((int)r);
  }
#endif

  int root_fd = open(root, O_RDONLY | O_DIRECTORY);
  int top_fd = open(argv[2], O_RDONLY | O_DIRECTORY);
  int ctr_fd = open(ctr, O_RDONLY | O_DIRECTORY);
  long r = attach(BPF_PROG_ATTACH, root_fd, (int)prog);
  printf("attach_root ret=%ld errno=%s\n", r, ename(r < 0 ? errno : 0));
  r = attach(BPF_PROG_ATTACH, top_fd, (int)prog);
  printf("attach_top ret=%ld errno=%s\n", r, ename(r < 0 ? errno : 0));
  r = attach(BPF_PROG_ATTACH, ctr_fd, (int)prog);
  printf("attach_ctr ret=%ld errno=%s\n", r, ename(r < 0 ? errno : 0));

  try_devices("in_ctr", ctr);
  int n = open("/dev/null", O_RDWR);
  printf("outside null=%s\n", ename(n < 0 ? errno : 0));

  r = attach(BPF_PROG_DETACH, ctr_fd, (int)prog);
  printf("detach_ctr ret=%ld errno=%s\n", r, ename(r < 0 ? errno : 0));
  try_devices("after_detach", ctr);

  r = rmdir(ctr);
  for (int i = 0; r != 0 && errno == EBUSY && i < 100; i++) { usleep(10000); r = rmdir(ctr); }
  printf("rmdir ret=%ld errno=%s\n", r, ename(r < 0 ? errno : 0));
  return 0;
}
