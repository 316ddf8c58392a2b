// The figures' reuse between answers (src/caller/workload-figures.ts, FIGURES_TTL_MS): what is reused
// is still what the host says, uptime keeps moving, and sysinfo and the views read one snapshot. Runs
// as any user: the host's files are world-readable, and the "workload" is this process.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { WorkloadFigures, FIGURES_TTL_MS } from '../../src/caller/workload-figures.js';
import type { WorkloadInfo } from '../../src/caller/workload.js';

const self: WorkloadInfo = {
  pid: process.pid, startTicks: 0, usernsInode: 0, supervisorUsernsInode: 0, cgroup2Dir: null, supervisorCgroup2Dir: null,
};
const procUptime = (): number => Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]);
const spin = (ms: number): void => { const until = performance.now() + ms; while (performance.now() < until); };

test('uptime carried forward between reads stays between the host\'s readings before and after', () => {
  const w = new WorkloadFigures(self);
  for (let i = 0; i < 5; i++) {
    const before = procUptime();
    const up = w.hostUptime()[0];
    spin(FIGURES_TTL_MS / 3);
    const later = w.hostUptime()[0];
    const after = procUptime();
    // /proc/uptime has two decimals: allow its rounding.
    assert.ok(up >= before - 0.01 && up <= after + 0.01, `uptime ${up} outside [${before}, ${after}]`);
    assert.ok(later >= up, `uptime went back: ${up} then ${later}`);
    assert.ok(later <= after + 0.01, `uptime ${later} ahead of the host's ${after}`);
  }
  w.dispose();
});

test('host figures are read again past FIGURES_TTL_MS, and memory figures follow the new snapshot', () => {
  const w = new WorkloadFigures(self);
  const host = w.hostFigures();
  assert.ok(host.totalram > 0);
  const first = w.memory(process.pid, host);
  assert.is(w.memory(process.pid, host).total, first.total);
  spin(FIGURES_TTL_MS + 1);
  const host2 = w.hostFigures();
  assert.is.not(host2, host, 'the host figures are read again after FIGURES_TTL_MS');
  assert.equal(w.memory(process.pid, host2).total, first.total);
  w.dispose();
});

test.run();
