// The set of policies a supervisor runs: the files named one by one (`--policy FILE`, in command-line
// order) followed by every `*.wasm` of a directory (`--policies DIR`, in file-name order), and what
// changes when it is scanned again (SIGHUP). Loading happens here, on the control plane: read, validate,
// meter, compile and instantiate once with an inert host, so that the data plane only receives modules
// known to start. A file that fails any of it is reported with its reason and, when an earlier version
// of it loaded, that version stays in force; a directory file that is gone is unloaded. Used by
// `wasmsup run` and the OCI agent alike.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { basename, dirname } from 'node:path';
import { PolicyLoadError } from '../errors.js';
import { readConfigurationFile, trialInstantiate, withConfiguration } from './configuration.js';
import { validatePolicyBytes, type LoadOptions, type PolicyInfo } from './load.js';

export { trialInstantiate };

export interface PolicyDirectoryOptions {
  /** Files named one by one; asked first, in this order. */
  files?: readonly string[];
  /** A directory whose `*.wasm` files are asked next, in file-name order (byte order, not locale). */
  directory?: string | null;
  /** Memory cap and fuel (which also bounds the policy's start code, run once here). */
  load?: LoadOptions;
  /**
   * Configuration files of files named one by one (`--policy-config`), by policy file. A directory's
   * NAME.wasm is configured by NAME.json beside it, when there is one.
   */
  configFiles?: ReadonlyMap<string, string>;
  /** What every policy's `identity` answers (`run --label`); null: `{}`. */
  identity?: Uint8Array | null;
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

// The file's bytes (and its configuration's), to tell an unchanged file on a rescan: compared whole
// rather than hashed, as policies are small and node:crypto alone costs milliseconds of every
// start-up to load.
interface Loaded { bytes: Buffer; config: Uint8Array | null; info: PolicyInfo }

/** NAME.json beside NAME.wasm. */
export function besideConfigFile(policyFile: string): string {
  return join(dirname(policyFile), `${basename(policyFile, '.wasm')}.json`);
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  return a === null || b === null ? a === b : Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
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

  private readonly configFiles: ReadonlyMap<string, string>;

  constructor(private readonly options: PolicyDirectoryOptions) {
    this.files = (options.files ?? []).map((f) => resolve(f));
    this.configFiles = new Map([...(options.configFiles ?? new Map<string, string>())].map(([p, c]) => [resolve(p), resolve(c)]));
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
      const configFile = this.configFiles.get(file) ?? (explicit ? null : besideConfigFile(file));
      let config: Uint8Array | null = null;
      try {
        // Only --policy-config must exist; NAME.json beside NAME.wasm is there when it is wanted.
        if (configFile !== null) config = readConfigurationFile(configFile, !this.configFiles.has(file));
      } catch (e) {
        const err = e as PolicyLoadError;
        errors.push({ file: err.file, reason: err.reason, keptPrevious: previous !== undefined });
        if (previous) next.set(file, previous);
        continue;
      }
      if (previous && previous.bytes.equals(bytes) && sameBytes(previous.config, config)) { next.set(file, previous); continue; }
      try {
        const info = withConfiguration(validatePolicyBytes(bytes, file, this.options.load), config, configFile, this.options.identity);
        trialInstantiate(info);
        next.set(file, { bytes, config, info });
        (previous ? replaced : added).push(file);
      } catch (e) {
        const reason = e instanceof PolicyLoadError ? e.reason : (e as Error).message;
        errors.push({ file: e instanceof PolicyLoadError ? e.file : file, reason, keptPrevious: previous !== undefined });
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
