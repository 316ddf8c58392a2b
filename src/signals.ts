// SIGUSR1 is the operator's "print the stats", and in a stock Node it is also "open the inspector on
// 127.0.0.1:9229", which every local user could then use to run code as root in the supervisor. No
// handler installed from JavaScript closes that: a signal can arrive before the first statement runs.
// So bin/wasmsup, a shell script and not Node, starts Node with its permission model, under which
// Node never installs the inspector's SIGUSR1 handler and refuses to start the inspector at all; Node
// then leaves SIGUSR1 blocked on its main thread (pending, harmless) until this module unblocks it,
// once the stats handler is in place. See docs/security.md ("Signals").
import { constants as osConstants } from 'node:os';
import { native } from './native.js';

/**
 * Why a SIGUSR1 could open this process's inspector, or null when it cannot: Node without an inspector,
 * Node's permission model (bin/wasmsup), or Node ≥ 22.14 started with --disable-sigusr1.
 */
export function inspectorSignalRisk(): string | null {
  if (!process.features.inspector) return null;
  if ((process as { permission?: unknown }).permission !== undefined) return null;
  if (process.execArgv.includes('--disable-sigusr1')) return null;
  return 'this Node process was started without its permission model, so a SIGUSR1 would open its ' +
    'inspector to every local user: start wasmsup through bin/wasmsup (docs/security.md)';
}

/** Prints the stats on SIGUSR1 from now on; returns the function that stops it. */
export function onStatsSignal(handler: () => void): () => void {
  process.on('SIGUSR1', handler);
  // Only now: an earlier SIGUSR1 was kept pending by the mask and is delivered here, to `handler`.
  native.unblockSignal(osConstants.signals.SIGUSR1);
  return () => process.off('SIGUSR1', handler);
}
