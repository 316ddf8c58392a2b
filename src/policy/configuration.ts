// Where a policy's configuration comes from and what the host checks before the policy sees it
// (docs/policy-abi.md, section 7): at most MAX_CONFIGURATION_BYTES of UTF-8 JSON. What the JSON
// means is the policy's business (its wasmsup_configure); this only makes sure every source — a
// file beside the policy, `--policy-config`, a container's annotation or listenerMetadata item —
// fails with one line naming it, and that a policy is never handed text it could not parse anyway.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { MAX_CONFIGURATION_BYTES } from './abi.js';
import { ConfigurationRefused, instantiatePolicy, type HostContext } from './instance.js';
import { PolicyLoadError } from '../errors.js';
import type { PolicyInfo } from './load.js';

const INERT_HOST: HostContext = { readMemory: () => -1, readString: () => -1, callerCreds: () => -1, log: () => {} };

/** Checks configuration text from `source`; its bytes, or PolicyLoadError naming `source`. */
export function checkConfiguration(bytes: Uint8Array, source: string): Uint8Array {
  if (bytes.length > MAX_CONFIGURATION_BYTES) {
    throw new PolicyLoadError(source, `configuration is ${bytes.length} bytes, at most ${MAX_CONFIGURATION_BYTES} are accepted`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new PolicyLoadError(source, 'configuration is not UTF-8 text');
  }
  try {
    JSON.parse(text);
  } catch (e) {
    throw new PolicyLoadError(source, `configuration is not JSON: ${(e as Error).message}`);
  }
  return bytes;
}

/**
 * Reads the configuration file `file`; null when it does not exist and `optional` (a policy with no
 * NAME.json beside it). Never reads more than the cap: 10 MiB of it is refused by its size alone.
 */
export function readConfigurationFile(file: string, optional: boolean): Uint8Array | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' && optional) return null;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code ?? err.message;
    throw new PolicyLoadError(file, `cannot read configuration: ${why}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new PolicyLoadError(file, 'cannot read configuration: not a regular file');
    if (st.size > MAX_CONFIGURATION_BYTES) {
      throw new PolicyLoadError(file, `configuration is ${st.size} bytes, at most ${MAX_CONFIGURATION_BYTES} are accepted`);
    }
    const buffer = Buffer.alloc(MAX_CONFIGURATION_BYTES + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > MAX_CONFIGURATION_BYTES) break; // grew while being read
    }
    return checkConfiguration(new Uint8Array(buffer.subarray(0, length)), file);
  } catch (e) {
    if (e instanceof PolicyLoadError) throw e;
    throw new PolicyLoadError(file, `cannot read configuration: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/** `info` with `configuration` from `source` (null: none) and `identity`; not yet checked by the policy. */
export function withConfiguration(info: PolicyInfo, configuration: Uint8Array | null, source: string | null, identity?: Uint8Array | null): PolicyInfo {
  return { ...info, configuration, configurationSource: configuration ? source : null, identity: identity ?? info.identity ?? null };
}

/**
 * Instantiates `info` once with a host that answers nothing, so that start code failures and a
 * refused configuration show when the policy is loaded, not in the data plane. A refused
 * configuration is reported against where it came from.
 */
export function trialInstantiate(info: PolicyInfo, log?: (level: number, message: string) => void): void {
  try {
    instantiatePolicy(info, log ? { ...INERT_HOST, log } : INERT_HOST);
  } catch (e) {
    if (e instanceof ConfigurationRefused) throw new PolicyLoadError(info.configurationSource ?? info.file, e.message);
    throw new PolicyLoadError(info.file, `cannot instantiate: ${(e as Error).message}`);
  }
}
