// The agent's accept loop, on its own worker thread: waits for runtimes to connect to the agent's
// socket and reads each one's container process state (JSON, with the fds named in it passed as
// SCM_RIGHTS), then hands text and fds to the control plane.
//
// Why a thread: reading a connection's message may have to wait (a runtime that connected but has not
// written yet), and Node's own sockets cannot receive SCM_RIGHTS, so the reads are the shim's
// blocking poll+recvmsg. On the main thread that wait would freeze signals, reloads and every
// container's logs. Here it blocks in poll on the listening socket and an eventfd the control plane
// writes to stop it; the socket is non-blocking, so accept itself never blocks.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { native } from '../native.js';
import type { AcceptWorkerConfig, AcceptWorkerMessage } from './protocol.js';

const config = workerData as AcceptWorkerConfig;
const port = parentPort!;
const post = (m: AcceptWorkerMessage) => port.postMessage(m);
const buffer = new Uint8Array(config.maxBytes);
const decoder = new TextDecoder('utf-8', { fatal: true });

function closeAll(fds: number[]): void {
  for (const fd of fds) {
    try { native.close(fd); } catch { /* already closed */ }
  }
}

/**
 * Reads one state from a connection. The runtime writes it with one sendmsg, but a stream socket may
 * deliver it in pieces, so pieces are read until they parse as JSON. Never waits for EOF: runc 1.1
 * keeps its end open. Returns null (after logging why and closing the fds) when no complete state came.
 */
function readState(conn: number): { text: string; fds: number[] } | null {
  const fds: number[] = [];
  const deadline = Date.now() + config.readTimeoutMs;
  let length = 0;
  for (;;) {
    const left = deadline - Date.now();
    let got;
    try {
      got = left > 0 && length < buffer.length ? native.recvMessage(conn, buffer.subarray(length), left) : undefined;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      post({ type: 'log', level: 'warn', message: `dropped a connection: ${code === 'ETIMEDOUT' ? `no complete state within ${config.readTimeoutMs} ms` : (e as Error).message}` });
      closeAll(fds);
      return null;
    }
    if (got === undefined) {
      post({ type: 'log', level: 'warn', message: length >= buffer.length ? `dropped a connection: state larger than ${buffer.length} bytes` : `dropped a connection: no complete state within ${config.readTimeoutMs} ms` });
      closeAll(fds);
      return null;
    }
    if (got === null) {
      // A client that connected and left without a word: the "is an agent live?" probe of another
      // agent starting on the same path does exactly this.
      if (length > 0 || fds.length > 0) post({ type: 'log', level: 'warn', message: 'dropped a connection: closed before a complete state arrived' });
      else post({ type: 'log', level: 'debug', message: 'a client connected and left without sending anything' });
      closeAll(fds);
      return null;
    }
    fds.push(...got.fds);
    length += got.bytes;
    let text: string;
    try {
      text = decoder.decode(buffer.subarray(0, length));
      JSON.parse(text);
    } catch {
      continue; // incomplete so far (or malformed: the control plane reports that once it is complete or times out)
    }
    return { text, fds };
  }
}

function stopRequested(): boolean {
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
    if ((m.message as { type: string }).type === 'stop') return true;
  }
  return false;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** The next pending connection, or null; a failing accept (EMFILE, ENOMEM…) is logged and retried after a pause rather than spun on. */
function acceptOne(): number | null {
  try {
    return native.unixAccept(config.socketFd);
  } catch (e) {
    post({ type: 'log', level: 'error', message: `accept: ${(e as Error).message}; retrying` });
    Atomics.wait(pause, 0, 0, 100);
    return null;
  }
}

for (;;) {
  const events = native.pollListener(config.socketFd, config.wakeFd, -1);
  if (events & 4 && stopRequested()) break;
  if (events & 2 && !(events & 1)) {
    post({ type: 'log', level: 'error', message: 'the listening socket failed (POLLERR); no new containers are accepted' });
    break;
  }
  if (!(events & 1)) continue;
  for (let conn = acceptOne(); conn !== null; conn = acceptOne()) {
    const state = readState(conn);
    native.close(conn);
    if (state) post({ type: 'state', ...state });
  }
}
post({ type: 'stopped' });
