// bpf(2) device programs for nested containers, after LXD: a container runtime (runc, crun) running as
// root of the workload's user namespace enforces its device rules with a BPF_PROG_TYPE_CGROUP_DEVICE
// program attached to the container's cgroup. The kernel allows neither the load nor the attach
// outside the initial user namespace; here the host loads the program itself and hands the caller a
// token for it, and attaches or detaches it only to cgroups delegated to the workload
// (docs/policies.md, bpf-devices).
//
// The caller never holds a program the host loaded: it gets a token (a pipe's read end) that only
// the host can turn into the program, so no bpf command the kernel performs can attach it anywhere;
// the host attaches, after its own subtree checks. Attach commands naming a device attach type are
// therefore the host's for every caller the filter sees, whatever its user namespace or capabilities:
// emulated for the workload's root, refused (EPERM) for anyone else; never continued, except for a
// caller as privileged as the host (CAP_SYS_ADMIN in the initial namespace), whose real programs are
// the kernel's business. BPF_LINK_CREATE is not emulated: refused (EPERM) for device attach types.
//
// This policy reads the attr to pick the calls to emulate, which is not a security boundary (the
// caller may change the memory afterwards): the host reads the attr again, once, and checks all of
// it itself. Everything else continues, and the kernel answers as usual (EPERM in a user namespace);
// a token is no bpf object to it (EINVAL).
import {
  Cap, Creds, Notification, Primitive, Sys, arg, continueCall, emulate, fail, intercept, readStruct,
} from "wasmsup";

const BPF_PROG_LOAD: u64 = 5;
const BPF_PROG_ATTACH: u64 = 8;
const BPF_PROG_DETACH: u64 = 9;
const BPF_LINK_CREATE: u64 = 28;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const EPERM: i32 = 1;
// `int cmd`: the kernel uses the low 32 bits of the register, so the filter compares only those.
const LOW32: u64 = 0xffffffff;

const ATTR = memory.data(16, 8);

export function interest(): void {
  intercept(Sys.bpf)
    .when(arg(0).masked(LOW32).eq(BPF_PROG_LOAD))
    .or(arg(0).masked(LOW32).eq(BPF_PROG_ATTACH))
    .or(arg(0).masked(LOW32).eq(BPF_PROG_DETACH))
    .or(arg(0).masked(LOW32).eq(BPF_LINK_CREATE));
}

export function decide(): i32 {
  const cmd = Notification.arg(0) & LOW32;
  const size = Notification.argU32(2);
  // The kernel reads at most `size` bytes and fails shorter attrs or unreadable ones itself, before
  // any fd is looked at.
  if (size < 12) return continueCall();
  if (readStruct(Notification.arg(1), ATTR, 12) != 0) return continueCall();
  const credsRead = Creds.load() == 0;
  // Only a container's root: in the workload's user namespace, CAP_SYS_ADMIN there.
  const workloadRoot = credsRead && !Creds.inSupervisorUserns && Creds.inWorkloadUserns && Creds.hasCap(Cap.SYS_ADMIN);
  if (cmd == BPF_PROG_LOAD) {
    // union bpf_attr: u32 prog_type at 0. In the initial namespace the kernel's own checks are the real ones.
    return workloadRoot && load<u32>(ATTR) == BPF_PROG_TYPE_CGROUP_DEVICE ? emulate(Primitive.BPF) : continueCall();
  }
  // BPF_PROG_ATTACH / DETACH: u32 target_fd, attach_bpf_fd, attach_type at 8; BPF_LINK_CREATE: u32
  // prog_fd, target_fd, attach_type at 8. Other attach types never take a device program.
  if (load<u32>(ATTR, 8) != BPF_CGROUP_DEVICE) return continueCall();
  if (credsRead && Creds.inSupervisorUserns && Creds.hasCap(Cap.SYS_ADMIN)) return continueCall();
  if (!workloadRoot || cmd == BPF_LINK_CREATE) return fail(EPERM);
  return emulate(Primitive.BPF);
}
