// The agent's listening socket. Loaded before anything else of the agent (src/oci/early.ts), so it
// imports nothing heavy.
import { chmodSync, lstatSync, mkdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { isErrno, native } from '../native.js';
import { UsageError } from '../errors.js';

export interface BoundSocket { fd: number; ino: number }

/**
 * Binds the agent's socket: mode 0600 from the start (bound under a temporary name, chmod'ed, then
 * renamed into place, so no client ever sees it more open), a stale socket file replaced, and a refusal
 * when another agent answers on it or the path is something else than a socket.
 */
export function bindSocket(path: string): BoundSocket {
  let existing;
  try { existing = lstatSync(path); } catch (e) { if (!isErrno(e, 'ENOENT')) throw new UsageError(`--socket ${path}: ${(e as Error).message}`); }
  if (existing) {
    if (!existing.isSocket()) throw new UsageError(`--socket ${path}: exists and is not a socket; not replacing it`);
    let probe = -1;
    try {
      probe = native.unixConnect(path);
    } catch (e) {
      if (!isErrno(e, 'ECONNREFUSED')) throw new UsageError(`--socket ${path}: cannot tell whether an agent is live on it: ${(e as Error).message}`);
    }
    if (probe >= 0) {
      native.close(probe);
      throw new UsageError(`--socket ${path}: another agent is live on it`);
    }
    unlinkSync(path); // stale: nobody listens
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const temporary = `${path}.${process.pid}`;
  let fd;
  try {
    fd = native.unixListen(temporary, 128);
  } catch (e) {
    throw new UsageError(`--socket ${path}: ${isErrno(e, 'ENAMETOOLONG') ? 'path too long for a unix socket (at most 107 bytes, with a few to spare)' : (e as Error).message}`);
  }
  try {
    chmodSync(temporary, 0o600);
    renameSync(temporary, path);
  } catch (e) {
    native.close(fd);
    try { unlinkSync(temporary); } catch { /* gone */ }
    throw new UsageError(`--socket ${path}: ${(e as Error).message}`);
  }
  return { fd, ino: statSync(path).ino };
}


/** Closes a socket this process bound and removes its file, if the file is still that socket. */
export function releaseSocket(path: string, socket: BoundSocket): void {
  try { native.close(socket.fd); } catch { /* closed */ }
  try { if (statSync(path).ino === socket.ino) unlinkSync(path); } catch { /* gone */ }
}
