// The host functions of the policy ABI (docs/policy-abi.md, section 3) for the notification in hand.
// They check after every read of the caller's state that the notification is still valid: otherwise
// the tid may already name another process and what was read must not be used. What they learn about
// the caller goes into the notification's CallerSnapshot, where the emulation that follows the
// decision finds it (src/caller/snapshot.ts).
import { native } from '../native.js';
import type { HostContext } from '../policy/instance.js';
import { Notif } from '../layouts.js';
import type { CallerSnapshot } from '../caller/snapshot.js';
import type { CredsBlockWriter } from './creds-block.js';
import type { FdInspector } from './fd-info.js';
import type { Listener } from './listener.js';
import type { OutWrites } from './out-writes.js';
import type { LogLevel } from '../log.js';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const EFAULT = 14, ENOENT = 2, ENOSYS = 38;

export class HostFunctions implements HostContext {
  /**
   * `notif`/`words`: the buffer the loop receives each notification into (bytes, and the same as
   * Uint32Array). `log`: a policy's log line, at its level.
   */
  constructor(
    private readonly listener: Listener,
    private readonly notif: Uint8Array,
    private readonly words: Uint32Array,
    private readonly caller: CallerSnapshot,
    private readonly credsBlock: CredsBlockWriter,
    private readonly fdInspector: FdInspector,
    private readonly logLine: (level: LogLevel, message: string) => void,
    /** Where write_out stages (the handler writes it on RETURN); null: write_out answers -ENOSYS. */
    private readonly outWrites: OutWrites | null = null,
  ) {}

  beginDecision(): void {
    if (this.outWrites !== null) this.outWrites.clear();
  }

  writeOut(arg: number, offset: number, memory: Uint8Array, from: number, len: number): number {
    if (this.outWrites === null) return -ENOSYS;
    return this.outWrites.stage(this.words[Notif.PORTABLE]!, this.words, arg, offset, memory, from, len);
  }

  readMemory(addrLo: number, addrHi: number, dst: Uint8Array, len: number): number {
    try {
      const n = native.readMemory(this.words[Notif.TID]!, addrLo, addrHi, dst, len);
      return this.listener.idValid(this.notif) ? n : -ENOENT;
    } catch (e) { return -((e as NodeJS.ErrnoException).errno ?? EFAULT); }
  }

  readString(addrLo: number, addrHi: number, dst: Uint8Array, cap: number): number {
    try {
      const n = native.readString(this.words[Notif.TID]!, addrLo, addrHi, dst, cap);
      return this.listener.idValid(this.notif) ? n : -ENOENT;
    } catch (e) { return -((e as NodeJS.ErrnoException).errno ?? EFAULT); }
  }

  callerCreds(dst: Uint8Array): number {
    this.caller.forget();
    const r = this.credsBlock.fill(this.words[Notif.TID]!, dst, this.caller);
    if (r !== 0) return r;
    if (!this.listener.idValid(this.notif)) return -ENOENT;
    this.caller.confirm(this.words);
    return 0;
  }

  fdInfo(fd: number, dst: Uint8Array, path: Uint8Array, pathCap: number): number {
    return this.fdInspector.inspect(this.notif, this.words[Notif.TID]!, fd, dst, path, pathCap);
  }

  log(level: number, message: string): void {
    this.logLine(LEVELS[level] ?? 'info', message);
  }
}
