// sysinfo(2) as a container should see it, like LXD's emulation: uptime since the workload started,
// the number of the workload's tasks, RAM and swap from the caller's memory cgroup limits when they
// are set (the host's figures otherwise), load averages of the host. The host computes the figures
// and writes them into the caller's struct sysinfo (in the i386 layout for i386 callers); this policy
// only chooses to have it done.
import { Errno, Notification, Sys, emulate, fail, intercept, Primitive } from "wasmsup";

export function interest(): void {
  intercept(Sys.sysinfo);
}

export function decide(): i32 {
  // sysinfo(NULL): the kernel's copy_to_user fails; no need to compute anything.
  if (Notification.arg(0) == 0) return fail(Errno.EFAULT);
  return emulate(Primitive.SYSINFO);
}
