// Configuration and identity (docs/policy-abi.md, sections 3 and 7). A policy that exports
//   export function configure(config: Json | null): bool
// is handed its configuration once per instance, before any decision (null: none was given, keep the
// defaults), and answers true to accept it or `return refuse("devices[2]: ...")`. Tables built here
// are what decide() reads: a decision never parses JSON.
import { config_read, config_refuse, identity as hostIdentity } from "./host";
import { Json } from "./json";

let current: Json | null = null;

/** Copies the configuration (`len` bytes) into memory of its own and checks it is JSON. For the generated entry. */
export function beginConfigure(len: i32): bool {
  current = null;
  if (len <= 0) return true;
  const buffer = new ArrayBuffer(len);
  const ptr = changetype<usize>(buffer);
  config_read(ptr, len);
  const json = new Json(ptr, len);
  if (!json.validate()) return refuse("not JSON: " + json.error + " at byte " + json.errorAt.toString());
  current = json;
  return true;
}

/** The configuration being applied, or null when none was given. */
export function configuration(): Json | null {
  return current;
}

/**
 * Refuses the configuration with `reason` (one line; name the key, as in `devices[2]: ...`): the host
 * refuses the policy with it, naming where the configuration came from. Returns false, for
 * `return refuse(...)` in configure().
 */
export function refuse(reason: string): bool {
  const bytes = String.UTF8.encode(reason);
  config_refuse(changetype<usize>(bytes), bytes.byteLength);
  return false;
}

/**
 * Whom this instance serves, as JSON (docs/policy-abi.md, `identity`): for the agent
 * `{"container": ID, "listenerMetadata": TEXT, "annotations": {...}}`, for `run` `{"label": TEXT}`
 * when given. Allocates: read it in configure() and keep what decide() needs.
 */
export function identity(): Json {
  const len = hostIdentity(0, 0);
  const buffer = new ArrayBuffer(len);
  hostIdentity(changetype<usize>(buffer), len);
  return new Json(changetype<usize>(buffer), len);
}
