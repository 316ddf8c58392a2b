// Small kernel files (cgroup, /proc, /sys) read again and again: each is opened once and re-read from
// its start with pread on the kept fd. Reading a seq_file or sysfs attribute at offset 0 makes the
// kernel generate it anew, so every read is current; keeping the fd saves the open, fstat and close
// that readFileSync pays per read (the sysinfo and proc-view emulations read a dozen per call).
import { closeSync, constants, openSync, readSync } from 'node:fs';

// Not in Node's fs.constants; the same value on every Linux ABI but alpha, sparc and parisc.
const O_CLOEXEC = 0o2000000;
const INITIAL_BYTES = 64 * 1024;
/** /proc/cpuinfo of a large host is a few hundred KiB; nothing read here is legitimately larger. */
const MAX_BYTES = 16 * 1024 * 1024;

/** How long a file that could not be opened is not tried again (a missing cgroup file stays missing). */
const MISSING_TTL_MS = 1000;

export class KeptFiles {
  private readonly fds = new Map<string, number>();
  /** Paths that could not be opened, and when: a failed open throws in Node, which costs ~20 µs. */
  private readonly missing = new Map<string, number>();
  private buffer = Buffer.allocUnsafe(INITIAL_BYTES);

  /** At most `capacity` fds are kept; the oldest is closed to make room. */
  constructor(private readonly capacity = 64) {}

  /**
   * The whole text of `path` (latin1: these files are ASCII), or null when it cannot be opened or read
   * (gone, removed cgroup, dead task). A kept fd that fails is reopened once: the file may have been
   * replaced (a cgroup removed and created again under the same name).
   */
  read(path: string): string | null {
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd = this.fds.get(path);
      if (fd === undefined) {
        const missingSince = this.missing.get(path);
        if (missingSince !== undefined && Date.now() - missingSince < MISSING_TTL_MS) return null;
        try {
          fd = openSync(path, constants.O_RDONLY | O_CLOEXEC);
        } catch {
          if (this.missing.size >= this.capacity) this.missing.clear();
          this.missing.set(path, Date.now());
          return null;
        }
        this.missing.delete(path);
        if (this.fds.size >= this.capacity) this.forget(this.fds.keys().next().value!);
        this.fds.set(path, fd);
      }
      try {
        let n = readSync(fd, this.buffer, 0, this.buffer.length, 0);
        while (n === this.buffer.length && this.buffer.length < MAX_BYTES) {
          this.buffer = Buffer.allocUnsafe(this.buffer.length * 2);
          n = readSync(fd, this.buffer, 0, this.buffer.length, 0);
        }
        return this.buffer.toString('latin1', 0, n);
      } catch {
        this.forget(path);
      }
    }
    return null;
  }

  /** Closes every kept fd. */
  close(): void {
    for (const path of [...this.fds.keys()]) this.forget(path);
  }

  private forget(path: string): void {
    const fd = this.fds.get(path);
    this.fds.delete(path);
    if (fd !== undefined) try { closeSync(fd); } catch { /* already closed */ }
  }
}
