// The text of the generated /proc views (src/emulate/proc-views.ts) from given figures, laid out as the
// kernel lays the files out; and the parsers of src/caller/workload-figures.ts. The host's own files
// are read as they are (any user may read them); the workload's figures are a fake.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { ProcView, ProcViews } from '../../src/emulate/proc-views.js';
import { parseCpuList, statValue, type CpuFigures, type HostFigures, type MemoryFigures, type WorkloadFigures } from '../../src/caller/workload-figures.js';

const MiB = 1024 * 1024;
const limited: MemoryFigures = {
  ramLimited: true, total: 256 * MiB, free: 200 * MiB, available: 230 * MiB, shared: 1 * MiB, cached: 30 * MiB,
  activeAnon: 4 * MiB, inactiveAnon: 20 * MiB, activeFile: 10 * MiB, inactiveFile: 20 * MiB, unevictable: 0, dirty: 4096,
  writeback: 0, mapped: 2 * MiB, anonHuge: 0, swapLimited: true, swapTotal: 64 * MiB, swapFree: 60 * MiB,
};

function fake(memory: MemoryFigures, cpu: CpuFigures, uptime = 12.345): WorkloadFigures {
  return {
    hostFigures: () => ({}) as HostFigures,
    memory: () => memory,
    cpu: () => cpu,
    uptime: () => uptime,
    hostUptime: () => [1000, 1500],
    loadAverages: () => ({ loads: [0.5, 0.25, 0.125], running: 1, total: 4 }),
  } as unknown as WorkloadFigures;
}

test('parsers: cpu lists and "key value" files', () => {
  assert.equal(parseCpuList('0-3,8,10-11\n'), [0, 1, 2, 3, 8, 10, 11]);
  assert.equal(parseCpuList(''), []);
  assert.is(statValue('cache 5\ntotal_cache 7\nrss 1\n', 'cache'), 5);
  assert.is(statValue('cache 5\ntotal_cache 7\n', 'total_cache'), 7);
  assert.is(statValue('total_cache 7\n', 'cache'), null);
  assert.is(statValue('user_usec 10\nusage_usec 30', 'usage_usec'), 30);
});

test('meminfo: the cgroup\'s lines in the kernel\'s layout, the host\'s other lines as they are', () => {
  const text = new ProcViews(fake(limited, { cpus: [0], userTicks: 0, systemTicks: 0 })).render(ProcView.MEMINFO, process.pid);
  const lines = text.split('\n');
  assert.ok(lines.includes('MemTotal:         262144 kB'), text);
  assert.ok(lines.includes('MemFree:          204800 kB'));
  assert.ok(lines.includes('MemAvailable:     235520 kB'));
  assert.ok(lines.includes('Buffers:               0 kB'));
  assert.ok(lines.includes('Cached:            30720 kB'));
  assert.ok(lines.includes('Inactive(anon):    20480 kB'));
  assert.ok(lines.includes('SwapTotal:         65536 kB'));
  assert.ok(lines.includes('SwapFree:          61440 kB'));
  assert.ok(lines.includes('AnonPages:         23552 kB')); // anon less shmem
  // Same keys in the same order as the host's file.
  const keys = (t: string) => t.split('\n').filter(Boolean).map((l) => l.slice(0, l.indexOf(':')));
  assert.equal(keys(text), keys(readFileSync('/proc/meminfo', 'latin1')));
});

test('meminfo follows the figures: a new figures snapshot gives a new text, the same one the same text', () => {
  let memory: MemoryFigures = limited;
  const figures = fake(limited, { cpus: [0], userTicks: 0, systemTicks: 0 });
  figures.memory = () => memory;
  const views = new ProcViews(figures);
  const first = views.render(ProcView.MEMINFO, process.pid);
  assert.is(views.render(ProcView.MEMINFO, process.pid), first);
  memory = { ...limited, free: 100 * MiB };
  const second = views.render(ProcView.MEMINFO, process.pid);
  assert.ok(second.split('\n').includes('MemFree:          102400 kB'), second);
  assert.ok(first.split('\n').includes('MemFree:          204800 kB'));
});

test('meminfo without a limit is the host\'s file', () => {
  const host = { ...limited, ramLimited: false, swapLimited: false };
  const text = new ProcViews(fake(host, { cpus: [0], userTicks: 0, systemTicks: 0 })).render(ProcView.MEMINFO, process.pid);
  assert.is(text.split('\n')[0]!.split(/\s+/)[0], 'MemTotal:');
  assert.is(text.split('\n').length, readFileSync('/proc/meminfo', 'latin1').split('\n').length);
});

test('stat, uptime, online, cpuinfo: the visible cpus, renumbered; cpu time spread over them, idle the rest', () => {
  const hostCpus = parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'latin1'));
  const last = hostCpus[hostCpus.length - 1]!;
  const views = new ProcViews(fake(limited, { cpus: [last], userTicks: 300, systemTicks: 100 }, 10));
  const stat = views.render(ProcView.STAT, process.pid).split('\n');
  assert.is(stat[0], 'cpu  300 0 100 600 0 0 0 0 0 0');
  assert.is(stat[1], 'cpu0 300 0 100 600 0 0 0 0 0 0');
  assert.ok(stat[2]!.startsWith('intr ') && !stat.slice(2).some((l) => l.startsWith('cpu')));
  assert.ok(stat.some((l) => l.startsWith('btime ')));
  assert.is(views.render(ProcView.UPTIME, process.pid), '10.00 6.00\n');
  assert.is(views.render(ProcView.CPU_ONLINE, process.pid), '0\n');
  const cpuinfo = views.render(ProcView.CPUINFO, process.pid);
  const processors = cpuinfo.split('\n').filter((l) => /^processor\s*:/.test(l));
  assert.equal(processors.map((l) => l.replace(/\s/g, '')), ['processor:0']);
  const two = new ProcViews(fake(limited, { cpus: [0, 1, 2], userTicks: 300, systemTicks: 0 }, 10));
  assert.is(two.render(ProcView.CPU_ONLINE, process.pid), '0-2\n');
  assert.equal(two.render(ProcView.STAT, process.pid).split('\n').slice(0, 4), ['cpu  300 0 0 2700 0 0 0 0 0 0', 'cpu0 100 0 0 900 0 0 0 0 0 0', 'cpu1 100 0 0 900 0 0 0 0 0 0', 'cpu2 100 0 0 900 0 0 0 0 0 0']);
});

test('loadavg and swaps', () => {
  const views = new ProcViews(fake(limited, { cpus: [0], userTicks: 0, systemTicks: 0 }));
  assert.match(views.render(ProcView.LOADAVG, process.pid), /^0\.50 0\.25 0\.13 1\/4 \d+\n$/);
  const swaps = views.render(ProcView.SWAPS, process.pid).split('\n');
  assert.is(swaps[0]!.split(/\s+/)[0], 'Filename');
  assert.equal(swaps[1]!.split(/\s+/), ['none', 'virtual', '65536', '4096', '0']);
  const noSwap = new ProcViews(fake({ ...limited, swapTotal: 0, swapFree: 0 }, { cpus: [0], userTicks: 0, systemTicks: 0 }));
  assert.is(noSwap.render(ProcView.SWAPS, process.pid).split('\n').filter(Boolean).length, 1);
});

test.run();
