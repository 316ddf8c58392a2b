// A test script's output in sections: each "== NAME" line starts one, so a single run of a shell
// script can print several tools' outputs and the test can look at each apart.

/** Sections "== NAME" of the script's output: NAME → the lines after it, each with its newline. */
export function sections(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  let name = '';
  for (const line of stdout.split('\n')) {
    const m = /^== (.*)$/.exec(line);
    if (m) { name = m[1]!; out[name] = ''; continue; }
    if (name) out[name] += line + '\n';
  }
  return out;
}
