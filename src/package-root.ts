// Where the package's own files are (build/Release, build/policies, package.json), derived from this
// module's URL. The compiled code runs from dist/src (tsc) or dist/bundle (scripts/bundle.js), both
// two levels below the root, so "../../" is the root either way: every path to the package's files is
// taken from here, never from a module's own depth.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The package root, with a trailing slash. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** package.json's version (read when asked: the CLI's --version and the metrics' build info). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(`${PACKAGE_ROOT}package.json`, 'utf8')) as { version: string }).version;
}
