// What `npm run bench` shows: the table on stdout and the latency plot (SVG, log scale).
import { writeFileSync } from 'node:fs';
import type { Summary } from './measure.js';

export interface Row extends Summary {
  id: string;
  label: string;
  unit: string;
  group: string;
}

export interface Target {
  name: string;
  value: number;
  limit: number;
  unit: string;
  met: boolean;
  /** Printed for comparison, not a target of the issue. */
  informational?: boolean;
  /** The same figure taken round by round (the median of each interleaved round's own value). */
  paired?: number;
}

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return n.toFixed(0);
  if (n >= 100) return n.toFixed(0);
  return n.toFixed(1);
}

export function printTable(rows: Row[], baseline: number, targets: Target[]): void {
  const width = Math.max(...rows.map((r) => r.label.length));
  console.log(`${'row'.padEnd(width)}  ${'median'.padStart(9)}  ${'min–max'.padStart(19)}  unit     ratio to (c, sync)`);
  let group = '';
  for (const r of rows) {
    if (r.group !== group) { if (group) console.log(''); group = r.group; }
    const ratio = r.group === 'latency' ? `${(r.median / baseline).toFixed(2)}×` : '';
    console.log(`${r.label.padEnd(width)}  ${fmt(r.median).padStart(9)}  ${`${fmt(r.min)}–${fmt(r.max)}`.padStart(19)}  ${r.unit.padEnd(7)}  ${ratio}`);
  }
  console.log('\ntargets:');
  for (const t of targets) {
    const verdict = t.informational ? '(info)' : t.met ? 'met   ' : 'MISSED';
    const paired = t.paired === undefined ? '' : `; round by round ${t.paired.toFixed(2)}`;
    console.log(`  ${verdict}  ${t.name}: ${t.value.toFixed(2)} (${t.informational ? 'against' : 'limit'} ${t.limit} ${t.unit}${paired})`);
  }
}

/** Horizontal bars of the median per-call latency on a log axis, with min–max whiskers. */
export function writeSvg(file: string, rows: Row[]): void {
  const left = 330, right = 40, top = 30, barH = 22, gap = 8, width = 900;
  const height = top + rows.length * (barH + gap) + 40;
  const lo = Math.floor(Math.log10(Math.min(...rows.map((r) => r.min))));
  const hi = Math.ceil(Math.log10(Math.max(...rows.map((r) => r.max))));
  const x = (v: number) => left + ((Math.log10(v) - lo) / (hi - lo)) * (width - left - right);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="${left}" y="18" font-weight="bold">getppid per call, ns (log scale): median bar, min–max whisker</text>`,
  ];
  for (let p = lo; p <= hi; p++) {
    const gx = x(10 ** p);
    parts.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${height - 30}" stroke="#ddd"/>`);
    parts.push(`<text x="${gx}" y="${height - 14}" text-anchor="middle">${fmt(10 ** p)}</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * (barH + gap);
    const colour = r.id.startsWith('e') ? '#d62728' : r.id.startsWith('c') ? '#1f77b4' : '#7f7f7f';
    parts.push(`<text x="${left - 8}" y="${y + barH * 0.7}" text-anchor="end">${esc(r.label)}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(r.median) - left)}" height="${barH}" fill="${colour}"/>`);
    parts.push(`<line x1="${x(r.min)}" y1="${y + barH / 2}" x2="${x(r.max)}" y2="${y + barH / 2}" stroke="#000"/>`);
    parts.push(`<text x="${x(r.max) + 4}" y="${y + barH * 0.7}">${fmt(r.median)}</text>`);
  });
  parts.push('</svg>');
  writeFileSync(file, parts.join('\n') + '\n');
}
