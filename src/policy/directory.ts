// The set of policies a supervisor runs: the files named one by one (`--policy FILE`, in command-line
// order) followed by every `*.wasm` of a directory (`--policies DIR`, in file-name order), and what
// changes when it is scanned again (SIGHUP). Loading happens here, on the control plane: read, validate,
// meter, compile and instantiate once with an inert host, so that the data plane only receives modules
// known to start. A file that fails any of it is reported with its reason and, when an earlier version
// of it loaded, that version stays in force; a directory file that is gone is unloaded. Used by
// `wasmsup run` and the OCI agent alike.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { instantiatePolicy, type HostContext } from './instance.js';
import { PolicyLoadError } from '../errors.js';
import { validatePolicyBytes, type LoadOptions, type PolicyInfo } from './load.js';

export interface PolicyDirectoryOptions {
  /** Files named one by one; asked first, in this order. */
  files?: readonly string[];
  /** A directory whose `*.wasm` files are asked next, in file-name order (byte order, not locale). */
  directory?: string | null;
  /** Memory cap and fuel (which also bounds the policy's start code, run once here). */
  load?: LoadOptions;
}

export interface PolicyFileError {
  file: string;
  reason: string;
  /** Whether an earlier version of the file stays in force. */
  keptPrevious: boolean;
}

export interface PolicyScan {
  /** The policies in force after the scan, in the order they are asked. */
  policies: PolicyInfo[];
  errors: PolicyFileError[];
  added: string[];
  replaced: string[];
  removed: string[];
  /** Whether `policies` differs from the set before the scan. */
  changed: boolean;
}

// The file's bytes, to tell an unchanged file on a rescan: compared whole rather than hashed, as
// policies are small and node:crypto alone costs milliseconds of every start-up to load.
interface Loaded { bytes: Buffer; info: PolicyInfo }

const INERT_HOST: HostContext = { readMemory: () => -1, readString: () => -1, callerCreds: () => -1, log: () => {} };

/** Instantiates `info` once with a host that answers nothing, so that start code failures show at load. */
export function trialInstantiate(info: PolicyInfo): void {
  try {
    instantiatePolicy(info, INERT_HOST);
  } catch (e) {
    throw new PolicyLoadError(info.file, `cannot instantiate: ${(e as Error).message}`);
  }
}

/** Directory entries that are policies: `*.wasm`, not hidden (editors' and rsync's temporary files are). */
export function policyFileNames(names: readonly string[]): string[] {
  return names.filter((n) => n.endsWith('.wasm') && !n.startsWith('.')).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export class PolicyDirectory {
  readonly files: readonly string[];
  readonly directory: string | null;
  private readonly loaded = new Map<string, Loaded>();
  private inForce: PolicyInfo[] = [];

  constructor(private readonly options: PolicyDirectoryOptions) {
    this.files = (options.files ?? []).map((f) => resolve(f));
    this.directory = options.directory ? resolve(options.directory) : null;
  }

  /** The policies in force (those of the last scan). */
  get policies(): readonly PolicyInfo[] {
    return this.inForce;
  }

  /** The first scan. Same as rescan(); a separate name because callers usually treat its errors as fatal. */
  load(): PolicyScan {
    return this.rescan();
  }

  /** Reads every file again; new or changed ones are loaded, failures keep the previous version. */
  rescan(): PolicyScan {
    const errors: PolicyFileError[] = [];
    const candidates = [...this.files];
    let directoryReadable = true;
    if (this.directory !== null) {
      try {
        for (const name of policyFileNames(readdirSync(this.directory))) {
          const file = join(this.directory, name);
          if (!candidates.includes(file)) candidates.push(file);
        }
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        directoryReadable = false;
        errors.push({ file: this.directory, reason: `cannot read the policy directory (${err.code ?? err.message})`, keptPrevious: this.loaded.size > 0 });
        // Keep the directory's policies of the last scan: a directory briefly unreadable (being
        // replaced, a permission slip) is not a request to unload everything.
        for (const file of this.loaded.keys()) if (!candidates.includes(file)) candidates.push(file);
      }
    }

    const next = new Map<string, Loaded>();
    const added: string[] = [], replaced: string[] = [];
    for (const file of candidates) {
      const previous = this.loaded.get(file);
      const explicit = this.files.includes(file);
      let bytes: Buffer | null = null;
      let why = 'not a regular file';
      try {
        if (statSync(file).isFile()) bytes = readFileSync(file);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        // A directory file that vanished between listing and reading is simply gone.
        if (err.code === 'ENOENT' && !explicit && directoryReadable) continue;
        why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code ?? err.message;
      }
      if (bytes === null) {
        errors.push({ file, reason: `cannot read policy: ${why}`, keptPrevious: previous !== undefined });
        if (previous) next.set(file, previous);
        continue;
      }
      if (previous && previous.bytes.equals(bytes)) { next.set(file, previous); continue; }
      try {
        const info = validatePolicyBytes(bytes, file, this.options.load);
        trialInstantiate(info);
        next.set(file, { bytes, info });
        (previous ? replaced : added).push(file);
      } catch (e) {
        const reason = e instanceof PolicyLoadError ? e.reason : (e as Error).message;
        errors.push({ file, reason, keptPrevious: previous !== undefined });
        if (previous) next.set(file, previous);
      }
    }
    const removed = [...this.loaded.keys()].filter((f) => !next.has(f));

    const policies = candidates.filter((f) => next.has(f)).map((f) => next.get(f)!.info);
    const changed = policies.length !== this.inForce.length || policies.some((p, i) => p !== this.inForce[i]);
    this.loaded.clear();
    for (const [file, entry] of next) this.loaded.set(file, entry);
    this.inForce = policies;
    return { policies, errors, added, replaced, removed, changed };
  }
}
