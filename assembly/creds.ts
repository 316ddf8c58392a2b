// The caller's credentials (docs/policy-abi.md, section 3, creds block). Fetched from the host at most
// once per notification into a static buffer, so reading them allocates nothing.
import { caller_creds } from "./host";

const BLOCK: usize = memory.data(128, 16);

const FLAG_IN_WORKLOAD_USERNS: u32 = 1;
const FLAG_IN_SUPERVISOR_USERNS: u32 = 2;
const FLAG_NO_NEW_PRIVS: u32 = 4;

/** The id value of a uid/gid that the caller's user namespace has no name for. */
export const UNMAPPED_ID: u32 = 0xffffffff;

// 1 = fetched for the current notification, negative = the host's -errno, 0 = not fetched yet.
// Reset by beginNotification() (called before every decision), so creds never leak from one call
// to the next.
let state: i32 = 0;

/** Forgets the previous notification's credentials. Called by the generated wasmsup_decide. */
export function resetCreds(): void {
  state = 0;
}

function ensureLoaded(): void {
  if (Creds.load() != 0) abort("Creds: caller_creds failed (the caller is gone?)");
}

@inline function word(offset: usize): u32 {
  return load<u32>(BLOCK + offset);
}

/**
 * The credentials of the calling thread. Ids without `ns` are as seen from the supervisor; `ns*`
 * ids are as seen inside the caller's user namespace (UNMAPPED_ID when unmapped there).
 *
 * `Creds.load()` fetches them and reports failure; every accessor calls it implicitly and traps
 * (failing the call closed) when the host could not read them, e.g. because the caller died.
 */
export class Creds {
  /** Fetches the creds for this notification (once); 0 or -errno (-ENOENT: the call is gone). */
  static load(): i32 {
    if (state == 0) {
      const result = caller_creds(BLOCK);
      state = result < 0 ? result : 1;
    }
    return state < 0 ? state : 0;
  }

  static get uid(): u32 { ensureLoaded(); return word(0); }
  static get euid(): u32 { ensureLoaded(); return word(4); }
  static get suid(): u32 { ensureLoaded(); return word(8); }
  static get fsuid(): u32 { ensureLoaded(); return word(12); }
  static get gid(): u32 { ensureLoaded(); return word(16); }
  static get egid(): u32 { ensureLoaded(); return word(20); }
  static get sgid(): u32 { ensureLoaded(); return word(24); }
  static get fsgid(): u32 { ensureLoaded(); return word(28); }
  static get nsUid(): u32 { ensureLoaded(); return word(32); }
  static get nsEuid(): u32 { ensureLoaded(); return word(36); }
  static get nsSuid(): u32 { ensureLoaded(); return word(40); }
  static get nsFsuid(): u32 { ensureLoaded(); return word(44); }
  static get nsGid(): u32 { ensureLoaded(); return word(48); }
  static get nsEgid(): u32 { ensureLoaded(); return word(52); }
  static get nsSgid(): u32 { ensureLoaded(); return word(56); }
  static get nsFsgid(): u32 { ensureLoaded(); return word(60); }
  static get capEffective(): u64 { ensureLoaded(); return load<u64>(BLOCK + 64); }
  static get capPermitted(): u64 { ensureLoaded(); return load<u64>(BLOCK + 72); }
  static get capInheritable(): u64 { ensureLoaded(); return load<u64>(BLOCK + 80); }
  static get umask(): u32 { ensureLoaded(); return word(88); }
  static get ngroups(): u32 { ensureLoaded(); return word(96); }
  /** The caller is in the user namespace the workload was started in. */
  static get inWorkloadUserns(): bool { ensureLoaded(); return (word(92) & FLAG_IN_WORKLOAD_USERNS) != 0; }
  /**
   * The caller is in the supervisor's own user namespace, where the kernel's own checks are the real
   * ones: the initial user namespace wherever the host can emulate (it must be root there).
   */
  static get inSupervisorUserns(): bool { ensureLoaded(); return (word(92) & FLAG_IN_SUPERVISOR_USERNS) != 0; }
  static get noNewPrivs(): bool { ensureLoaded(); return (word(92) & FLAG_NO_NEW_PRIVS) != 0; }

  /** Whether capability `cap` (see `Cap`) is in the caller's effective set. */
  static hasCap(cap: i32): bool {
    if (<u32>cap > 63) return false;
    return (Creds.capEffective & (<u64>1 << <u64>cap)) != 0;
  }
}

/** Capability numbers (linux/capability.h). */
export namespace Cap {
  export const CHOWN: i32 = 0;
  export const DAC_OVERRIDE: i32 = 1;
  export const DAC_READ_SEARCH: i32 = 2;
  export const FOWNER: i32 = 3;
  export const FSETID: i32 = 4;
  export const KILL: i32 = 5;
  export const SETGID: i32 = 6;
  export const SETUID: i32 = 7;
  export const SETPCAP: i32 = 8;
  export const LINUX_IMMUTABLE: i32 = 9;
  export const NET_BIND_SERVICE: i32 = 10;
  export const NET_BROADCAST: i32 = 11;
  export const NET_ADMIN: i32 = 12;
  export const NET_RAW: i32 = 13;
  export const IPC_LOCK: i32 = 14;
  export const IPC_OWNER: i32 = 15;
  export const SYS_MODULE: i32 = 16;
  export const SYS_RAWIO: i32 = 17;
  export const SYS_CHROOT: i32 = 18;
  export const SYS_PTRACE: i32 = 19;
  export const SYS_PACCT: i32 = 20;
  export const SYS_ADMIN: i32 = 21;
  export const SYS_BOOT: i32 = 22;
  export const SYS_NICE: i32 = 23;
  export const SYS_RESOURCE: i32 = 24;
  export const SYS_TIME: i32 = 25;
  export const SYS_TTY_CONFIG: i32 = 26;
  export const MKNOD: i32 = 27;
  export const LEASE: i32 = 28;
  export const AUDIT_WRITE: i32 = 29;
  export const AUDIT_CONTROL: i32 = 30;
  export const SETFCAP: i32 = 31;
  export const MAC_OVERRIDE: i32 = 32;
  export const MAC_ADMIN: i32 = 33;
  export const SYSLOG: i32 = 34;
  export const WAKE_ALARM: i32 = 35;
  export const BLOCK_SUSPEND: i32 = 36;
  export const AUDIT_READ: i32 = 37;
  export const PERFMON: i32 = 38;
  export const BPF: i32 = 39;
  export const CHECKPOINT_RESTORE: i32 = 40;
}
