// What a policy may learn about the caller of a notification: its credentials as the kernel sees
// them, translated into the creds block of the policy ABI (docs/policy-abi.md, section 3). Runs on
// the data-plane thread, once per `caller_creds` call, without allocating.
import { native } from '../native.js';
import { statusFiles } from './status-files.js';

const CREDS_WORDS = 96;
const MAP_WORDS = 3 * 340;
const UNMAPPED = 0xffffffff;

// Creds block word offsets (128 bytes = 32 words).
const W_NS_IDS = 8, W_CAP_EFF = 16, W_CAP_PRM = 18, W_CAP_INH = 20, W_UMASK = 22, W_FLAGS = 23, W_NGROUPS = 24;
// native.readCreds word offsets (docs/native-api.md).
const R_UMASK = 8, R_CAP_INH = 10, R_CAP_PRM = 12, R_CAP_EFF = 14, R_NO_NEW_PRIVS = 18, R_NGROUPS = 19;

export const CALLER_IN_WORKLOAD_USERNS = 1;
export const CALLER_IN_SUPERVISOR_USERNS = 2;
export const CALLER_NO_NEW_PRIVS = 4;

class IdMap {
  lines = 0;
  readonly triples = new Uint32Array(MAP_WORDS);
  /** Host id → id inside the namespace, UNMAPPED when the namespace has no name for it. */
  toInside(host: number): number {
    for (let i = 0; i < this.lines; i++) {
      const inside = this.triples[3 * i]!, outside = this.triples[3 * i + 1]!, count = this.triples[3 * i + 2]!;
      if (host >= outside && host - outside < count) return (inside + (host - outside)) >>> 0;
    }
    return UNMAPPED;
  }
}

export class CallerCreds {
  private readonly raw = new Uint32Array(CREDS_WORDS);
  private readonly block = new Uint8Array(128);
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

  /** Fills `dst` (128 bytes) for thread `tid`; returns 0 or -errno. Caller checks ID_VALID afterwards. */
  fill(tid: number, dst: Uint8Array): number {
    let usernsInode: number;
    try {
      statusFiles.readCreds(tid, this.raw);
      usernsInode = native.nsInode(tid, 'user');
      if (usernsInode !== this.pinnedInode) this.readMaps(tid);
    } catch (e) {
      return -((e as NodeJS.ErrnoException).errno ?? 3 /* ESRCH */);
    }
    const r = this.raw, w = this.words;
    w.fill(0);
    for (let i = 0; i < 4; i++) {
      w[i] = r[i]!;
      w[4 + i] = r[4 + i]!;
      w[W_NS_IDS + i] = this.uidMap.toInside(r[i]!);
      w[W_NS_IDS + 4 + i] = this.gidMap.toInside(r[4 + i]!);
    }
    w[W_CAP_EFF] = r[R_CAP_EFF]!; w[W_CAP_EFF + 1] = r[R_CAP_EFF + 1]!;
    w[W_CAP_PRM] = r[R_CAP_PRM]!; w[W_CAP_PRM + 1] = r[R_CAP_PRM + 1]!;
    w[W_CAP_INH] = r[R_CAP_INH]!; w[W_CAP_INH + 1] = r[R_CAP_INH + 1]!;
    w[W_UMASK] = r[R_UMASK]!;
    w[W_FLAGS] = (usernsInode === this.workloadUsernsInode ? CALLER_IN_WORKLOAD_USERNS : 0)
      | (usernsInode === this.supervisorUsernsInode ? CALLER_IN_SUPERVISOR_USERNS : 0)
      | (r[R_NO_NEW_PRIVS] ? CALLER_NO_NEW_PRIVS : 0);
    w[W_NGROUPS] = r[R_NGROUPS]!;
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

  /** The raw native.readCreds words of the last successful fill (for emulations). */
  get lastRaw(): Uint32Array { return this.raw; }
}
