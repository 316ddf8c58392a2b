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
//
// Configuration (docs/policies.md): {"maxInstructions": N, "attach": true}: programs longer than N
// instructions (1..4096, the host's own cap; default 4096) are refused with E2BIG before the host is
// asked, and "attach": false refuses every attach and detach (EPERM), for runtimes that only load.
// Like everything this policy reads from the attr, the first is not a security boundary: the host's
// cap is.
import {
  Cap, Creds, Json, JsonKind, LogLevel, Notification, Primitive, Sys, arg, continueCall, emulate, fail, intercept, log,
  readStruct, refuse,
} from "wasmsup";

const BPF_PROG_LOAD: u64 = 5;
const BPF_PROG_ATTACH: u64 = 8;
const BPF_PROG_DETACH: u64 = 9;
const BPF_LINK_CREATE: u64 = 28;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const EPERM: i32 = 1;
const E2BIG: i32 = 7;
/** The host's own cap on a program's length (src/emulate/bpf.ts). */
const HOST_MAX_INSTRUCTIONS: i64 = 4096;

let maxInstructions: u32 = <u32>HOST_MAX_INSTRUCTIONS;
let attachAllowed = true;

export function configure(config: Json | null): bool {
  if (config === null) return true;
  const json = config!;
  const root = json.root;
  if (json.kind(root) != JsonKind.Object) return refuse("the configuration must be a JSON object, not " + json.text(root));
  const unknown = json.unknownKey(root, "maxInstructions,attach");
  if (unknown >= 0) return refuse("unknown key " + json.text(unknown) + " (known keys: maxInstructions, attach)");
  const max = json.get(root, "maxInstructions");
  if (max >= 0) {
    if (!json.isInteger(max) || json.integer(max) < 1 || json.integer(max) > HOST_MAX_INSTRUCTIONS) {
      return refuse("maxInstructions: must be a whole number from 1 to " + HOST_MAX_INSTRUCTIONS.toString() + ", not " + json.text(max));
    }
    maxInstructions = <u32>json.integer(max);
  }
  const attach = json.get(root, "attach");
  if (attach >= 0) {
    if (!json.isBool(attach)) return refuse("attach: must be true or false, not " + json.text(attach));
    attachAllowed = json.isTrue(attach);
  }
  log(LogLevel.DEBUG, "bpf-devices: at most " + maxInstructions.toString() + " instructions, attach " + (attachAllowed ? "allowed" : "refused"));
  return true;
}
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
    // u32 insn_cnt at 4: a program the configuration finds too long never reaches the host.
    if (!workloadRoot || load<u32>(ATTR) != BPF_PROG_TYPE_CGROUP_DEVICE) return continueCall();
    // Unconfigured, the host alone answers a program beyond its cap, as it always did.
    const tooLong = <i64>maxInstructions < HOST_MAX_INSTRUCTIONS && load<u32>(ATTR, 4) > maxInstructions;
    return tooLong ? fail(E2BIG) : emulate(Primitive.BPF);
  }
  // BPF_PROG_ATTACH / DETACH: u32 target_fd, attach_bpf_fd, attach_type at 8; BPF_LINK_CREATE: u32
  // prog_fd, target_fd, attach_type at 8. Other attach types never take a device program.
  if (load<u32>(ATTR, 8) != BPF_CGROUP_DEVICE) return continueCall();
  if (credsRead && Creds.inSupervisorUserns && Creds.hasCap(Cap.SYS_ADMIN)) return continueCall();
  if (!workloadRoot || cmd == BPF_LINK_CREATE || !attachAllowed) return fail(EPERM);
  return emulate(Primitive.BPF);
}
