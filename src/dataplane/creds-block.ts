// The caller_creds host function's answer (docs/policy-abi.md, section 3): the caller's credentials as
// the kernel sees them, translated into the policy ABI's creds block, with its ids as its own user
// namespace names them. Runs on the data-plane thread, once per `caller_creds` call, without
// allocating; the raw credentials it read stay in the notification's CallerSnapshot for the emulation.
import { native } from '../native.js';
import {
  CALLER_IN_SUPERVISOR_USERNS, CALLER_IN_WORKLOAD_USERNS, CALLER_NO_NEW_PRIVS, Creds, CredsBlock, UNMAPPED_ID,
} from '../layouts.js';
import type { CallerSnapshot } from '../caller/snapshot.js';

/** Lines of an id map the kernel allows (340), three words each. */
const MAP_WORDS = 3 * 340;

class IdMap {
  lines = 0;
  readonly triples = new Uint32Array(MAP_WORDS);
  /** Host id → id inside the namespace, UNMAPPED when the namespace has no name for it. */
  toInside(host: number): number {
    for (let i = 0; i < this.lines; i++) {
      const inside = this.triples[3 * i]!, outside = this.triples[3 * i + 1]!, count = this.triples[3 * i + 2]!;
      if (host >= outside && host - outside < count) return (inside + (host - outside)) >>> 0;
    }
    return UNMAPPED_ID;
  }
}

export class CredsBlockWriter {
  private readonly block = new Uint8Array(CredsBlock.WORDS * 4);
  private readonly words = new Uint32Array(this.block.buffer);
  // The caller's user namespace changes rarely (one per workload), so its id maps are cached and
  // re-read only when a caller from another namespace shows up. The cache is keyed by the namespace's
  // inode number, which the kernel gives to a new namespace as soon as the old one is freed: so the
  // namespace the maps were read from is kept alive by an open fd (`pinnedFd`) for as long as they
  // are cached. While it is, no other namespace can have its number, and an equal number is the same
  // namespace. (The workload's and the supervisor's namespaces, compared by number too, are alive as
  // long as this data plane has callers: every task using the filter is in the workload's namespace
  // or one nested in it, which keeps it alive, and the supervisor is in its own.)
  private readonly uidMap = new IdMap();
  private readonly gidMap = new IdMap();
  private pinnedFd = -1;
  private pinnedInode = -1;

  constructor(private readonly workloadUsernsInode: number, private readonly supervisorUsernsInode: number) {}

  /**
   * Fills `dst` (CREDS_BYTES) for thread `tid`, reading its credentials into `caller`; returns 0 or
   * -errno. The caller checks ID_VALID afterwards, and only then confirms the snapshot.
   */
  fill(tid: number, dst: Uint8Array, caller: CallerSnapshot): number {
    let usernsInode: number;
    let r: Uint32Array;
    try {
      caller.readCredsAndUserns(tid);
      r = caller.lastRead;
      usernsInode = r[Creds.USERNS_INODE]! + r[Creds.USERNS_INODE + 1]! * 0x100000000;
      if (usernsInode !== this.pinnedInode) this.readMaps(tid);
    } catch (e) {
      return -((e as NodeJS.ErrnoException).errno ?? 3 /* ESRCH */);
    }
    // Every word up to NGROUPS is written below on every fill; the reserved ones after it stay as
    // the constructor made them: zero.
    const w = this.words;
    for (let i = 0; i < 4; i++) {
      w[CredsBlock.UID + i] = r[Creds.UID + i]!;
      w[CredsBlock.GID + i] = r[Creds.GID + i]!;
      w[CredsBlock.NS_UID + i] = this.uidMap.toInside(r[Creds.UID + i]!);
      w[CredsBlock.NS_GID + i] = this.gidMap.toInside(r[Creds.GID + i]!);
    }
    w[CredsBlock.CAP_EFF] = r[Creds.CAP_EFF]!; w[CredsBlock.CAP_EFF + 1] = r[Creds.CAP_EFF + 1]!;
    w[CredsBlock.CAP_PRM] = r[Creds.CAP_PRM]!; w[CredsBlock.CAP_PRM + 1] = r[Creds.CAP_PRM + 1]!;
    w[CredsBlock.CAP_INH] = r[Creds.CAP_INH]!; w[CredsBlock.CAP_INH + 1] = r[Creds.CAP_INH + 1]!;
    w[CredsBlock.UMASK] = r[Creds.UMASK]!;
    w[CredsBlock.FLAGS] = (usernsInode === this.workloadUsernsInode ? CALLER_IN_WORKLOAD_USERNS : 0)
      | (usernsInode === this.supervisorUsernsInode ? CALLER_IN_SUPERVISOR_USERNS : 0)
      | (r[Creds.NO_NEW_PRIVS] ? CALLER_NO_NEW_PRIVS : 0);
    w[CredsBlock.NGROUPS] = r[Creds.NGROUPS]!;
    dst.set(this.block);
    return 0;
  }

  /**
   * Reads and caches the id maps of `tid`'s user namespace, pinning that namespace. Throws as the
   * native calls do (ESRCH when the thread left the namespace meanwhile: its caller is gone).
   */
  private readMaps(tid: number): void {
    this.unpin();
    const fd = native.openPath(`/proc/${tid}/ns/user`, native.constants.O_RDONLY);
    try {
      const inode = native.fstat(fd).ino;
      this.uidMap.lines = native.readIdMap(tid, 'uid', this.uidMap.triples);
      this.gidMap.lines = native.readIdMap(tid, 'gid', this.gidMap.triples);
      // The maps read are those of the pinned namespace only if the thread was still in it (a
      // thread blocked in a notification cannot move; one whose tid was reused could have).
      if (native.nsInode(tid, 'user') !== inode) throw Object.assign(new Error('the caller left its user namespace'), { errno: 3 /* ESRCH */ });
      this.pinnedFd = fd;
      this.pinnedInode = inode;
    } catch (e) {
      native.close(fd);
      throw e;
    }
  }

  private unpin(): void {
    if (this.pinnedFd >= 0) native.close(this.pinnedFd);
    this.pinnedFd = -1;
    this.pinnedInode = -1;
    this.uidMap.lines = this.gidMap.lines = 0;
  }

  /** Lets go of the cached namespace (the worker's end). */
  close(): void {
    this.unpin();
  }
}
