// Raising scheduling priority from a container, as LXD's security.syscalls.intercept.sched_setscheduler
// (Incus: sched_setscheduler_emulate): sched_setscheduler, sched_setparam and sched_setattr, which the
// kernel refuses to a container's root (raising a priority needs CAP_SYS_NICE in the initial user
// namespace), performed by the host with its own CAP_SYS_NICE for the workload's root, on threads of
// the workload, within the ceiling configured here. The host checks caller, target and ceiling itself
// (docs/policy-abi.md, section 4, SCHED); this policy only chooses to have it done and sets the ceiling.
//
// Allows NOTHING until configured (docs/policies.md): {"policies": ["fifo","rr","other","batch","idle"],
// "maxRtPriority": 50, "minNice": -10}. "deadline" is accepted only when named.
import {
  Cap, Creds, Json, JsonKind, LogLevel, SchedPolicy, Sys, continueCall, emulateSched, intercept, log, refuse,
} from "wasmsup";

let allowed: u32 = 0;
let maxRtPriority: i32 = 0;
let minNice: i32 = 0;

export function interest(): void {
  intercept(Sys.sched_setscheduler);
  intercept(Sys.sched_setparam);
  intercept(Sys.sched_setattr);
}

function policyBit(json: Json, at: i32): u32 {
  if (json.stringIs(at, "other")) return SchedPolicy.OTHER;
  if (json.stringIs(at, "batch")) return SchedPolicy.BATCH;
  if (json.stringIs(at, "idle")) return SchedPolicy.IDLE;
  if (json.stringIs(at, "fifo")) return SchedPolicy.FIFO;
  if (json.stringIs(at, "rr")) return SchedPolicy.RR;
  if (json.stringIs(at, "deadline")) return SchedPolicy.DEADLINE;
  return 0;
}

/** An integer key within [low, high]: its value, or refuses (returns low - 1). */
function integerKey(json: Json, key: string, low: i32, high: i32, fallback: i32): i32 {
  const at = json.get(json.root, key);
  if (at < 0) return fallback;
  if (!json.isInteger(at) || json.integer(at) < <i64>low || json.integer(at) > <i64>high) {
    refuse(key + ": must be an integer from " + low.toString() + " to " + high.toString() + ", not " + json.text(at));
    return low - 1;
  }
  return <i32>json.integer(at);
}

export function configure(config: Json | null): bool {
  allowed = 0; maxRtPriority = 0; minNice = 0;
  if (config === null) return true;
  const json = config!;
  const root = json.root;
  if (json.kind(root) != JsonKind.Object) return refuse("the configuration must be a JSON object, not " + json.text(root));
  const unknown = json.unknownKey(root, "policies,maxRtPriority,minNice");
  if (unknown >= 0) return refuse("unknown key " + json.text(unknown) + " (known keys: policies, maxRtPriority, minNice)");
  const policies = json.get(root, "policies");
  if (policies < 0) return refuse("policies: required, e.g. [\"fifo\", \"rr\", \"other\", \"batch\", \"idle\"]");
  if (json.kind(policies) != JsonKind.Array) return refuse("policies: must be an array of policy names, not " + json.text(policies));
  let set: u32 = 0, i = 0;
  for (let e = json.first(policies); e >= 0; e = json.next(e), i++) {
    const bit = policyBit(json, e);
    if (bit == 0) return refuse("policies[" + i.toString() + "]: " + json.text(e) + " is not one of other, batch, idle, fifo, rr, deadline");
    set |= bit;
  }
  const maxRt = integerKey(json, "maxRtPriority", 1, 99, 0);
  if (maxRt == 0 && json.get(root, "maxRtPriority") >= 0) return false;
  if (maxRt == 0 && (set & (SchedPolicy.FIFO | SchedPolicy.RR)) != 0) return refuse("maxRtPriority: required when fifo or rr is allowed");
  const nice = integerKey(json, "minNice", -20, 19, 0);
  if (nice == -21) return false;
  allowed = set; maxRtPriority = maxRt; minNice = nice;
  log(LogLevel.DEBUG, "sched: policies 0x" + allowed.toString(16) + ", RT priority up to " + maxRtPriority.toString() + ", nice down to " + minNice.toString());
  return true;
}

export function decide(): i32 {
  // Unconfigured: nothing is granted, the kernel answers as without wasmsup.
  if (allowed == 0) return continueCall();
  // Only the workload's root (its user namespace, CAP_SYS_NICE effective); in the supervisor's own
  // namespace the kernel's check is the real one. The host checks this again itself.
  if (Creds.load() != 0 || Creds.inSupervisorUserns || !Creds.inWorkloadUserns || !Creds.hasCap(Cap.SYS_NICE)) return continueCall();
  return emulateSched(allowed, maxRtPriority, minNice);
}
