// bpf(2) device programs for nested containers, after LXD: a container runtime (runc, crun) running as
// root of the workload's user namespace enforces its device rules with a BPF_PROG_TYPE_CGROUP_DEVICE
// program attached to the container's cgroup. The kernel allows neither the load nor the attach
// outside the initial user namespace; here the host loads the program itself and injects the fd, and
// attaches or detaches it only to cgroups delegated to the workload (docs/policies.md, bpf-devices).
//
// This policy reads the attr to pick the calls to emulate, which is not a security boundary (the
// caller may change the memory afterwards): the host reads the attr again, once, and checks all of
// it itself. Everything else continues, and the kernel answers as usual (EPERM in a user namespace).
import {
  Cap, Creds, Notification, Primitive, Sys, arg, continueCall, emulate, intercept, readStruct,
} from "wasmsup";

const BPF_PROG_LOAD: u64 = 5;
const BPF_PROG_ATTACH: u64 = 8;
const BPF_PROG_DETACH: u64 = 9;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
// `int cmd`: the kernel uses the low 32 bits of the register, so the filter compares only those.
const LOW32: u64 = 0xffffffff;

const ATTR = memory.data(16, 8);

export function interest(): void {
  intercept(Sys.bpf)
    .when(arg(0).masked(LOW32).eq(BPF_PROG_LOAD))
    .or(arg(0).masked(LOW32).eq(BPF_PROG_ATTACH))
    .or(arg(0).masked(LOW32).eq(BPF_PROG_DETACH));
}

export function decide(): i32 {
  // Only a container's root: in the workload's user namespace, CAP_SYS_ADMIN there. In the initial
  // namespace the kernel's own checks are the real ones.
  if (Creds.load() != 0 || Creds.inInitUserns || !Creds.inWorkloadUserns || !Creds.hasCap(Cap.SYS_ADMIN)) {
    return continueCall();
  }
  const cmd = Notification.arg(0) & LOW32;
  const size = Notification.argU32(2);
  if (size < 12) return continueCall();
  if (readStruct(Notification.arg(1), ATTR, 12) != 0) return continueCall();
  if (cmd == BPF_PROG_LOAD) {
    // union bpf_attr: u32 prog_type at 0.
    return load<u32>(ATTR) == BPF_PROG_TYPE_CGROUP_DEVICE ? emulate(Primitive.BPF) : continueCall();
  }
  // BPF_PROG_ATTACH / DETACH: u32 target_fd, attach_bpf_fd, attach_type at 8.
  return load<u32>(ATTR, 8) == BPF_CGROUP_DEVICE ? emulate(Primitive.BPF) : continueCall();
}
