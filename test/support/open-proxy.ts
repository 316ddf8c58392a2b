// The open-proxy policy (policies/open-proxy.ts) with another configuration (docs/policies.md,
// open-proxy): its views and redirects, so tests can name host files in their own temporary directories.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { POLICY } from './wasmsup.js';

/** Writes DIR/open-proxy.json with these tables; the `run` arguments that load the shipped policy with it. */
export function configureOpenProxy(dir: string, views: string[], redirects: [string, string][]): string[] {
  const config = join(dir, 'open-proxy.json');
  writeFileSync(config, JSON.stringify({ views, redirects: Object.fromEntries(redirects) }));
  return ['--policy', POLICY('open-proxy'), '--policy-config', config];
}
