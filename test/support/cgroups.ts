// Cgroups for tests that need a workload in a cgroup of its own: created under the host's cgroup
// hierarchies, entered by the supervisor through a `prefix` command (so the workload starts in them),
// removed afterwards. Works with cgroup2 mounted at /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified
// (hybrid), and with the v1 memory controller.
import { chownSync, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Mount { mountPoint: string; fstype: string; superOptions: string[] }

function cgroupMounts(): Mount[] {
  const out: Mount[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' '), right = line.slice(dash + 3).split(' ');
    if (right[0] === 'cgroup' || right[0] === 'cgroup2') out.push({ mountPoint: left[4]!, fstype: right[0]!, superOptions: (right[2] ?? '').split(',') });
  }
  return out;
}

/** The cgroup2 mount point, or null. */
export function cgroup2Mount(): string | null {
  return cgroupMounts().find((m) => m.fstype === 'cgroup2')?.mountPoint ?? null;
}

/** Where a memory limit can be set: the v1 memory controller, or cgroup2 with the memory controller. */
export function memoryHierarchy(): { version: 1 | 2; root: string } | null {
  const v1 = cgroupMounts().find((m) => m.fstype === 'cgroup' && m.superOptions.includes('memory'));
  if (v1) return { version: 1, root: v1.mountPoint };
  const v2 = cgroup2Mount();
  if (v2 && readFileSync(join(v2, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory')) {
    // Children of the root get the controller only when the root's subtree_control enables it.
    writeFileSync(join(v2, 'cgroup.subtree_control'), '+memory');
    return { version: 2, root: v2 };
  }
  return null;
}

export interface TestCgroup {
  dir: string;
  /** Prefix for runWasmsup: moves the supervisor (and so the workload it starts) into `dir` first. */
  prefix: string[];
  /** Removes the directory (and child directories named in `children`); retries while the kernel still counts exiting tasks. */
  remove(children?: string[]): void;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function removeDir(dir: string): void {
  for (let i = 0; ; i++) {
    try { rmdirSync(dir); return; } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || i >= 200) throw e;
      sleepMs(10);
    }
  }
}

/** A new cgroup `name` under `root`; with `owner`, delegated to that uid/gid (directory and its writable files). */
export function createCgroup(root: string, name: string, owner?: number): TestCgroup {
  const dir = join(root, name);
  mkdirSync(dir);
  if (owner !== undefined) {
    for (const f of ['', 'cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control']) {
      const path = join(dir, f);
      if (existsSync(path)) chownSync(path, owner, owner);
    }
  }
  return {
    dir,
    prefix: ['sh', '-c', 'echo $$ > "$0" && exec "$@"', join(dir, 'cgroup.procs')],
    remove(children = []) {
      for (const child of children) removeDir(join(dir, child));
      removeDir(dir);
    },
  };
}
