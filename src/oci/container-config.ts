// What a container's policies are told (docs/oci.md, "Per-container configuration"): a configuration
// of its own for a policy, from the annotation io.wasmsup.config.NAME or else a config.NAME= item of
// listenerMetadata, which replaces the directory's NAME.json for that container only; and the
// identity every one of its policies reads: its id, its listenerMetadata and the annotations the
// operator lets through (--pass-annotation). Checked on the control plane, before its data plane
// starts, so a configuration a policy refuses is one line naming the container and the source.
import { basename } from 'node:path';
import { checkConfiguration, trialInstantiate, withConfiguration } from '../policy/configuration.js';
import { PolicyLoadError } from '../errors.js';
import type { PolicyInfo } from '../policy/load.js';

export const CONFIG_ANNOTATION_PREFIX = 'io.wasmsup.config.';

export interface ContainerFacts {
  id: string;
  metadata: string;
  annotations: Record<string, string>;
}

/** The names a container may use for a policy: its declared name, then its file name without `.wasm`. */
function namesOf(policy: PolicyInfo): string[] {
  const fileName = basename(policy.file, '.wasm');
  return fileName === policy.name ? [policy.name] : [policy.name, fileName];
}

/**
 * The end of the JSON value starting at `text[start]` (an object, array, string or bare word),
 * without judging it: checkConfiguration does that. Lets an item of listenerMetadata hold JSON with
 * spaces and ';' in it although items are separated by them.
 */
function jsonValueEnd(text: string, start: number): number {
  let depth = 0, i = start, inString = false;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') { inString = false; if (depth === 0) return i + 1; }
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') { depth--; if (depth <= 0) return i + 1; }
    else if (depth === 0 && /[\s;]/.test(c)) return i;
  }
  return i;
}

/** The `config.NAME=JSON` item of listenerMetadata, or null. */
function metadataItem(metadata: string, name: string): string | null {
  const key = `config.${name}=`;
  for (let at = metadata.indexOf(key); at >= 0; at = metadata.indexOf(key, at + 1)) {
    if (at > 0 && !/[\s;]/.test(metadata[at - 1]!)) continue;
    const start = at + key.length;
    return metadata.slice(start, jsonValueEnd(metadata, start));
  }
  return null;
}

/** The container's own configuration of `policy` and where it came from, or null (the directory's stands). */
export function containerConfiguration(container: ContainerFacts, policy: PolicyInfo): { bytes: Uint8Array; source: string } | null {
  const encode = (text: string) => new TextEncoder().encode(text);
  for (const name of namesOf(policy)) {
    const annotation = container.annotations[CONFIG_ANNOTATION_PREFIX + name];
    if (annotation !== undefined) {
      const source = `container ${container.id}: annotation ${CONFIG_ANNOTATION_PREFIX}${name}`;
      return { bytes: checkConfiguration(encode(annotation), source), source };
    }
  }
  for (const name of namesOf(policy)) {
    const item = metadataItem(container.metadata, name);
    if (item !== null) {
      const source = `container ${container.id}: listenerMetadata item config.${name}`;
      return { bytes: checkConfiguration(encode(item), source), source };
    }
  }
  return null;
}

/** Whether annotation `key` is let through by `--pass-annotation` patterns (exact, or a prefix ending in `*`). */
function passes(key: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? key.startsWith(p.slice(0, -1)) : key === p));
}

/** What `identity` answers for the container's policies. */
export function containerIdentity(container: ContainerFacts, passAnnotations: readonly string[]): Uint8Array {
  const annotations: Record<string, string> = {};
  for (const key of Object.keys(container.annotations).sort()) {
    if (passes(key, passAnnotations)) annotations[key] = container.annotations[key]!;
  }
  return new TextEncoder().encode(JSON.stringify({ container: container.id, listenerMetadata: container.metadata, annotations }));
}

/**
 * The container's policies as its data plane runs them: each with the container's identity, and with
 * its own configuration where it has one. Throws PolicyLoadError (naming the container and the
 * source) when a policy refuses what it is given.
 */
export function configureForContainer(
  policies: readonly PolicyInfo[], container: ContainerFacts, passAnnotations: readonly string[], allowed: readonly string[] | null = null,
): PolicyInfo[] {
  const identity = containerIdentity(container, passAnnotations);
  return policies.map((policy) => {
    const own = containerConfiguration(container, policy);
    // --container-config: whoever sets a container's annotations must not widen what the operator
    // did not mean them to (an open-proxy target is any host file the agent can read).
    if (own && allowed !== null && !namesOf(policy).some((n) => allowed.includes(n))) {
      throw new PolicyLoadError(own.source, `this agent takes no per-container configuration of ${policy.name} (--container-config ${allowed.join(',') || 'none'})`);
    }
    const info = own
      ? withConfiguration(policy, own.bytes, own.source, identity)
      : { ...policy, identity };
    // Its configure() may read the identity as well as the configuration: try it here.
    if (info.configurable || own) trialInstantiate(info);
    return info;
  });
}
