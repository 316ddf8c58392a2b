/* What the bpf probes (bpf-devices-probe.c, bpf-attack-probe.c) share: the bpf(2) ABI they speak,
 * spelled out so that they build without a libbpf, and the errno names they print. */
#ifndef WASMSUP_BPF_PROBE_H
#define WASMSUP_BPF_PROBE_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BPF_PROG_LOAD 5
#define BPF_PROG_ATTACH 8
#define BPF_PROG_DETACH 9
#define BPF_PROG_QUERY 16
#define BPF_LINK_CREATE 28
#define BPF_PROG_TYPE_SOCKET_FILTER 1
#define BPF_PROG_TYPE_CGROUP_DEVICE 15
#define BPF_CGROUP_DEVICE 6

struct insn { uint8_t code; uint8_t regs; int16_t off; int32_t imm; };
#define INSN(c, dst, src, o, i) { (c), (uint8_t)((dst) | ((src) << 4)), (o), (i) }

struct load_attr {
  uint32_t prog_type, insn_cnt;
  uint64_t insns, license;
  uint32_t log_level, log_size;
  uint64_t log_buf;
  uint32_t kern_version, prog_flags;
  char prog_name[16];
  uint32_t prog_ifindex, expected_attach_type, prog_btf_fd, func_info_rec_size;
  uint64_t func_info;
  uint32_t func_info_cnt, line_info_rec_size;
  uint64_t line_info;
  uint32_t line_info_cnt, attach_btf_id, attach_prog_fd, core_relo_cnt;
  uint64_t fd_array, core_relos;
  uint32_t core_relo_rec_size, log_true_size;
};

struct attach_attr { uint32_t target_fd, attach_bpf_fd, attach_type, attach_flags, replace_bpf_fd; };

static inline const char *ename(int e) {
  static char buf[16];
  switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case E2BIG: return "E2BIG";
    case ENOENT: return "ENOENT";
    case EBUSY: return "EBUSY";
    default: snprintf(buf, sizeof buf, "E%d", e); return buf;
  }
}

static inline long sys_bpf(int cmd, void *attr, unsigned size) { return syscall(SYS_bpf, cmd, attr, size); }

#endif
