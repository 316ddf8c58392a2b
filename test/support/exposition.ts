// A strict reader of the Prometheus text format (0.0.4) and OpenMetrics 1.0 text, for the metrics
// tests: every line must parse, every sample must belong to a family declared by # TYPE, histograms
// must be cumulative and end with +Inf = _count, and OpenMetrics must end with # EOF.
import { createServer } from 'node:net';
import { request } from 'node:http';

export interface Sample { name: string; labels: Record<string, string>; value: number }
export interface Exposition { types: Map<string, string>; samples: Sample[] }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value "${text}" in: ${line}`);
  return Number(text);
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`bad labels in: ${line}`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name "${name}" in: ${line}`);
    if (name in labels) throw new Error(`label ${name} twice in: ${line}`);
    if (text[eq + 1] !== '"') throw new Error(`unquoted label value in: ${line}`);
    let j = eq + 2, value = '';
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`unterminated label value in: ${line}`);
      if (c === '"') break;
      if (c === '\\') {
        const n = text[j + 1];
        if (n === 'n') value += '\n';
        else if (n === '\\' || n === '"') value += n;
        else throw new Error(`bad escape in: ${line}`);
        j += 2;
      } else { value += c; j++; }
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (i !== text.length) throw new Error(`bad label separator in: ${line}`);
  }
  return labels;
}

/** The family a sample belongs to, given the declared types. */
function familyOf(name: string, types: Map<string, string>, openmetrics: boolean): string | undefined {
  if (types.has(name) && !(openmetrics && types.get(name) === 'counter')) return name;
  for (const suffix of ['_bucket', '_sum', '_count', '_total']) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const type = types.get(base);
    if (type === 'histogram' && suffix !== '_total') return base;
    if (type === 'counter' && suffix === '_total' && openmetrics) return base;
  }
  return undefined;
}

export function parseExposition(text: string, openmetrics = false): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const lines = text.split('\n');
  if (lines.pop() !== '') throw new Error('the exposition does not end with a newline');
  if (openmetrics && lines.pop() !== '# EOF') throw new Error('OpenMetrics text does not end with # EOF');
  for (const line of lines) {
    if (line === '') {
      if (openmetrics) throw new Error('blank line in OpenMetrics text');
      continue;
    }
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (!m) throw new Error(`bad comment line: ${line}`);
      if (!NAME.test(m[2]!)) throw new Error(`bad metric name in: ${line}`);
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped', 'unknown', 'info', 'stateset'].includes(m[3]!)) throw new Error(`bad type in: ${line}`);
        if (types.has(m[2]!)) throw new Error(`family declared twice: ${line}`);
        types.set(m[2]!, m[3]!);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)( -?\d+(\.\d+)?)?$/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    if (familyOf(m[1]!, types, openmetrics) === undefined) throw new Error(`sample of no declared family: ${line}`);
    samples.push({ name: m[1]!, labels: m[2] ? parseLabels(m[2], line) : {}, value: parseValue(m[3]!, line) });
  }
  // Histograms: cumulative buckets, +Inf equal to _count, per label set.
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const s of samples.filter((x) => x.name === `${family}_bucket`)) {
      const { le, ...rest } = s.labels;
      if (le === undefined) throw new Error(`${family}_bucket without le`);
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, buckets] of series) {
      let previous = -Infinity, previousCount = 0;
      for (const b of buckets) {
        const le = parseValue(b.labels.le!, b.labels.le!);
        if (!(le > previous) || b.value < previousCount) throw new Error(`${family}${key}: buckets not cumulative at le=${b.labels.le}`);
        previous = le; previousCount = b.value;
      }
      if (previous !== Infinity) throw new Error(`${family}${key}: no +Inf bucket`);
      const count = samples.find((s) => s.name === `${family}_count` && JSON.stringify(s.labels) === key);
      if (!count || count.value !== previousCount) throw new Error(`${family}${key}: _count differs from the +Inf bucket`);
    }
  }
  return { types, samples };
}

/** The value of the one sample with this name and (exactly these) labels, or undefined. */
export function valueOf(e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  const found = e.samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want);
  if (found.length > 1) throw new Error(`${name}${want}: ${found.length} samples`);
  return found[0]?.value;
}

export interface HttpResult { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One HTTP request, failing after timeoutMs. */
export function http(url: string, opts: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`${url}: no answer in ${opts.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** GET url, checked and parsed (Prometheus text, or OpenMetrics when asked for). */
export async function scrape(url: string, openmetrics = false): Promise<Exposition> {
  const r = await http(url, openmetrics ? { headers: { Accept: 'application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5' } } : {});
  if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status}: ${r.body}`);
  const type = String(r.headers['content-type']);
  if (openmetrics ? !type.startsWith('application/openmetrics-text; version=1.0.0') : !type.startsWith('text/plain; version=0.0.4')) {
    throw new Error(`${url}: content type ${type}`);
  }
  return parseExposition(r.body, openmetrics);
}

/** A loopback port nobody listens on right now (bound and released here). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}
