// The open-proxy policy (policies/open-proxy.ts) built with another configuration: its VIEWS and
// REDIRECTS tables replaced, so tests can name host files in their own temporary directories.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPolicy } from '../../src/policy/build.js';
import { ROOT } from './wasmsup.js';

/** Builds open-proxy with these tables into DIR/open-proxy.wasm; returns its path. */
export async function buildOpenProxy(dir: string, views: string[], redirects: [string, string][]): Promise<string> {
  let src = readFileSync(join(ROOT, 'policies', 'open-proxy.ts'), 'utf8');
  const viewsRe = /const VIEWS: string\[\] = \[[\s\S]*?\n\];/;
  const redirectsRe = /const REDIRECTS: string\[\]\[\] = \[[\s\S]*?\n\];/;
  if (!viewsRe.test(src) || !redirectsRe.test(src)) throw new Error('policies/open-proxy.ts: VIEWS or REDIRECTS table not found');
  src = src.replace(viewsRe, `const VIEWS: string[] = ${JSON.stringify(views)};`)
    .replace(redirectsRe, `const REDIRECTS: string[][] = ${JSON.stringify(redirects)};`);
  const file = join(dir, 'open-proxy.ts');
  writeFileSync(file, src);
  const out = join(dir, 'open-proxy.wasm');
  await buildPolicy(file, out, { diagnostics: () => {} });
  return out;
}
