// The OCI "container process state" a runtime sends to a seccomp agent (runtime-spec config-linux.md,
// "linux.seccomp.listenerPath"): JSON with the fds it came with named in `fds`, and how a container
// says which policies it wants. Everything here is validation of untrusted input and returns one-line
// reasons; nothing touches an fd.
import { DEFAULT_ACTIONS, type DefaultAction } from '../dataplane/protocol.js';

/**
 * What the agent keeps of a container's state. What runtimes really send (captured, docs/oci.md):
 *
 * | runtime | command | "pid" | "state.pid" | "state.status" |
 * | --- | --- | --- | --- | --- |
 * | runc 1.1 | run | the container's init | the same | creating |
 * | runc 1.1 | exec | the exec'd process | the container's init | running |
 * | crun 1.8 | run | the container's init | the same | creating |
 * | crun 1.8 | exec | 0 | 0 | running |
 * | crun ≥ 1.9 | exec | the exec'd process | the same | running |
 */
export interface ContainerState {
  id: string;
  /** The process the listener was made for, in the runtime's (and the agent's) pid namespace; 0 = not said. */
  pid: number;
  /** "state.pid": the container's init for runc, the listener's process for crun; 0 = not said. */
  statePid: number;
  /** "state.status": "creating" for a container's first process, "running" for an exec'd one; "" = not said. */
  status: string;
  /** `linux.seccomp.listenerMetadata`, or "". */
  metadata: string;
  annotations: Record<string, string>;
  /** Index of the seccomp listener in the received fds. */
  seccompFdIndex: number;
  /** How many fds the state names; the message must carry exactly that many. */
  fdCount: number;
}

export class StateError extends Error {}

const MAX_ID_LENGTH = 1024;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validates a container process state. runc sends `ociVersion` "1.0.2"-ish, crun "0.2.0"; neither
 * changes the fields used here, so the version is only required to be a string.
 */
export function parseContainerState(text: string): ContainerState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new StateError(`not JSON: ${(e as Error).message}`);
  }
  if (!isObject(raw)) throw new StateError('not a JSON object');
  if (typeof raw.ociVersion !== 'string') throw new StateError('"ociVersion" missing or not a string');
  const { fds, pid, metadata, state } = raw;
  if (!Array.isArray(fds) || !fds.every((f) => typeof f === 'string')) throw new StateError('"fds" missing or not an array of names');
  const seccompFdIndex = fds.indexOf('seccompFd');
  if (seccompFdIndex < 0) throw new StateError('"fds" does not name a "seccompFd"');
  // crun 1.8 sends 0 for an exec'd process (it does not know its pid).
  if (!isProcessId(pid)) throw new StateError('"pid" missing or not a process id (or 0)');
  if (metadata !== undefined && typeof metadata !== 'string') throw new StateError('"metadata" is not a string');
  if (!isObject(state)) throw new StateError('"state" missing or not an object');
  const { id, annotations } = state;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH || /[\0-\x1f]/.test(id)) {
    throw new StateError('"state.id" missing or not a printable container id');
  }
  if (state.pid !== undefined && !isProcessId(state.pid)) throw new StateError('"state.pid" is not a process id (or 0)');
  if (state.status !== undefined && typeof state.status !== 'string') throw new StateError('"state.status" is not a string');
  const kept: Record<string, string> = {};
  if (annotations !== undefined) {
    if (!isObject(annotations)) throw new StateError('"state.annotations" is not an object');
    for (const [k, v] of Object.entries(annotations)) {
      if (typeof v !== 'string') throw new StateError(`"state.annotations.${k}" is not a string`);
      kept[k] = v;
    }
  }
  return {
    id, pid, statePid: (state.pid as number | undefined) ?? 0, status: (state.status as string | undefined) ?? '',
    metadata: metadata ?? '', annotations: kept, seccompFdIndex, fdCount: fds.length,
  };
}

function isProcessId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x3fffffff;
}

/** The annotation that selects a container's policies; it wins over listenerMetadata. */
export const POLICIES_ANNOTATION = 'io.wasmsup.policies';

/**
 * Which policies a container asked for: the names listed by the `io.wasmsup.policies` annotation, or
 * else by the `policies=` item of listenerMetadata (items separated by whitespace or ';', other
 * items ignored), or null for "every policy of the directory". "none" or an empty list selects none.
 * The annotation's names may be separated by commas, whitespace or ';' (podman splits `--annotation`
 * on commas, so `mknod setxattr` or `mknod;setxattr` is how a podman user writes a list); in
 * listenerMetadata, whose items are split on whitespace and ';', by commas.
 */
export function requestedPolicies(container: Pick<ContainerState, 'metadata' | 'annotations'>): { names: string[] | null; source: string } {
  const annotation = container.annotations[POLICIES_ANNOTATION];
  if (annotation !== undefined) return { names: splitNames(annotation), source: `annotation ${POLICIES_ANNOTATION}` };
  for (const item of container.metadata.split(/[\s;]+/)) {
    const m = /^policies=(.*)$/.exec(item);
    if (m) return { names: splitNames(m[1]!), source: 'listenerMetadata' };
  }
  return { names: null, source: 'default (every policy)' };
}

/** The annotation that sets a container's --default-action; it wins over listenerMetadata's `default-action=`. */
export const DEFAULT_ACTION_ANNOTATION = 'io.wasmsup.default-action';

/**
 * The container's own --default-action, from the `io.wasmsup.default-action` annotation or else the
 * `default-action=` item of listenerMetadata; null when it names none. kinvolk's seccompagent's
 * spellings (`DEFAULT_ACTION=kill-container`, `freeze-container`) are accepted too. A value that is
 * none of them is a StateError: the agent refuses the container rather than guess what was meant.
 */
export function containerDefaultAction(container: Pick<ContainerState, 'metadata' | 'annotations'>): DefaultAction | null {
  let value = container.annotations[DEFAULT_ACTION_ANNOTATION], source = `annotation ${DEFAULT_ACTION_ANNOTATION}`;
  if (value === undefined) {
    source = 'listenerMetadata item default-action';
    for (const item of container.metadata.split(/[\s;]+/)) {
      const m = /^(?:default-action|DEFAULT_ACTION)=(.*)$/.exec(item);
      if (m) value = m[1]!;
    }
  }
  if (value === undefined) return null;
  const action = value.trim().toLowerCase().replace(/-container$/, '');
  if (!(DEFAULT_ACTIONS as readonly string[]).includes(action)) {
    throw new StateError(`${source}: "${value}" is not one of ${DEFAULT_ACTIONS.join(', ')}`);
  }
  return action as DefaultAction;
}

function splitNames(list: string): string[] {
  const names = list.split(/[\s,;]+/).filter((n) => n.length > 0);
  return names.length === 1 && names[0] === 'none' ? [] : names;
}
