// `wasmsup agent` listens before it loads anything else. A runtime that starts a container while the
// agent is starting must find the socket (runc 1.1.5 hangs forever when it cannot connect and the
// container's first calls are notified): bin/wasmsup's Node gets here with only this module, the
// native addon and node:fs loaded, binds, and only then loads the CLI, the policies and the accept
// loop. Connections made meanwhile wait in the socket's backlog until the policies are in force.
// A successor started by a hand-over (SIGUSR2) inherits its socket instead and binds nothing here.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bindSocket, releaseSocket, type BoundSocket } from './socket.js';
import { AGENT_OPTIONS, AGENT_SOCKET, HANDOVER_ENV } from './options.js';

let early: { path: string; socket: BoundSocket | null; error: unknown } | null = null;

/** Binds the socket `args` (the agent's arguments) name, unless a hand-over or bad arguments say otherwise. */
export function listenEarly(args: string[]): void {
  if (process.env[HANDOVER_ENV] !== undefined) return;
  let values;
  try {
    ({ values } = parseArgs({ args, options: AGENT_OPTIONS, strict: true, allowPositionals: false }));
  } catch {
    return; // the CLI says what is wrong, and nothing was bound
  }
  if (values.help) return;
  const path = resolve((values.socket as string | undefined) ?? AGENT_SOCKET);
  try {
    early = { path, socket: bindSocket(path), error: null };
    // If the agent never gets to serve it (a bad option, a bad policy), the socket goes with the process.
    process.on('exit', release);
  } catch (e) {
    early = { path, socket: null, error: e }; // reported where the agent would have bound it
  }
}

function release(): void {
  if (early?.socket) releaseSocket(early.path, early.socket);
  early = null;
}

/** The socket bound early for `path`, now the caller's; null when none was; throws why binding failed. */
export function takeEarlySocket(path: string): BoundSocket | null {
  if (!early || early.path !== path) return null;
  const { socket, error } = early;
  early = null;
  process.off('exit', release);
  if (error) throw error;
  return socket;
}
