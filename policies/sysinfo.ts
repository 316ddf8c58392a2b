// sysinfo(2) as a container should see it, like LXD's emulation: uptime since the workload started,
// the number of the workload's tasks, RAM and swap from the caller's memory cgroup limits when they
// are set (the host's figures otherwise), load averages of the host. The host computes the figures
// and writes them into the caller's struct sysinfo (in the i386 layout for i386 callers); this policy
// only chooses to have it done, and which figures come from the host instead of the workload.
//
// Configuration (docs/policies.md): {"uptime": "workload"|"host", "memory": "cgroup"|"host",
// "procs": "workload"|"host"}; each defaults to the workload's view.
import {
  Errno, Json, JsonKind, LogLevel, Notification, Sys, SysinfoSource, emulateSysinfo, fail, intercept, log, refuse,
} from "wasmsup";

let sources: u32 = 0;

export function interest(): void {
  intercept(Sys.sysinfo);
}

/** One key: `workload` (or `cgroup` for memory) leaves the bit clear, `host` sets it. */
function source(json: Json, key: string, ownView: string, bit: u32): bool {
  const at = json.get(json.root, key);
  if (at < 0) return true;
  if (json.stringIs(at, "host")) { sources |= bit; return true; }
  if (json.stringIs(at, ownView)) return true;
  return refuse(key + ": must be \"" + ownView + "\" or \"host\", not " + json.text(at));
}

export function configure(config: Json | null): bool {
  if (config === null) return true;
  const json = config!;
  if (json.kind(json.root) != JsonKind.Object) return refuse("the configuration must be a JSON object, not " + json.text(json.root));
  const unknown = json.unknownKey(json.root, "uptime,memory,procs");
  if (unknown >= 0) return refuse("unknown key " + json.text(unknown) + " (known keys: uptime, memory, procs)");
  sources = 0;
  if (!source(json, "uptime", "workload", SysinfoSource.HOST_UPTIME)) return false;
  if (!source(json, "memory", "cgroup", SysinfoSource.HOST_MEMORY)) return false;
  if (!source(json, "procs", "workload", SysinfoSource.HOST_PROCS)) return false;
  log(LogLevel.DEBUG, "sysinfo: uptime from the " + ((sources & SysinfoSource.HOST_UPTIME) ? "host" : "workload")
    + ", memory from the " + ((sources & SysinfoSource.HOST_MEMORY) ? "host" : "cgroup")
    + ", procs from the " + ((sources & SysinfoSource.HOST_PROCS) ? "host" : "workload"));
  return true;
}

export function decide(): i32 {
  // sysinfo(NULL): the kernel's copy_to_user fails; no need to compute anything.
  if (Notification.arg(0) == 0) return fail(Errno.EFAULT);
  return emulateSysinfo(sources);
}
