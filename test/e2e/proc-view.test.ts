// The proc-view and sysinfo policies through `wasmsup agent` for a runc container with a memory limit
// and a cpu quota (linux.resources): the container's /proc/meminfo, /proc/uptime, /proc/cpuinfo and
// busybox's free (which asks sysinfo(2)) show its own machine, and its task count is its cgroup's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privileged } from '../support/privileged.js';
import { agentSetup, findTool, makeBundle, ociConfig, ociGap, runContainer, withAgent } from '../support/oci.js';
import { sections } from '../support/script-sections.js';

const LIMIT = 256 * 1024 * 1024;
let serial = 0;
const containerId = () => `wasmsup-procview-${process.pid}-${++serial}`;

const SCRIPT = [
  'echo "== meminfo"; head -3 /proc/meminfo',
  'echo "== uptime"; cat /proc/uptime',
  'echo "== cpuinfo"; grep -c ^processor /proc/cpuinfo',
  'echo "== free"; free -b',
  'echo "== loadavg"; sleep 5 & sleep 5 & cat /proc/loadavg; kill %1 %2',
].join('; ');

test('runc + agent: a container with 256 MiB and one cpu of quota sees them in /proc and sysinfo', async () => {
  if (!privileged('runc proc-view', ociGap())) return;
  await withAgent(agentSetup('wasmsup-procview-', ['proc-view', 'sysinfo']), async (t, agent) => {
    const { bundle } = makeBundle(t.bundleDir(), { args: ['sh', '-c', SCRIPT], seccomp: ociConfig(t.policies, t.socket) });
    const configPath = join(bundle, 'config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8'));
    config.linux.resources = { memory: { limit: LIMIT }, cpu: { quota: 100000, period: 100000 } };
    writeFileSync(configPath, JSON.stringify(config, null, 1));
    const r = await runContainer(findTool('runc')!, t.state, bundle, containerId());
    assert.is(r.code, 0, `${r.stderr}\n${agent.log}`);
    const s = sections(r.stdout);
    assert.match(s.meminfo!, new RegExp(`^MemTotal:\\s+${LIMIT / 1024} kB$`, 'm'));
    const [up] = s.uptime!.trim().split(' ').map(Number);
    assert.ok(up! >= 0 && up! < 60, s.uptime);
    assert.is(s.cpuinfo!.trim(), '1');
    // busybox free asks sysinfo(2): the sysinfo policy's figures, the same limit.
    assert.match(s.free!, new RegExp(`^\\s*Mem:\\s+${LIMIT}\\s`, 'm'));
    // The container's own pids cgroup counts its tasks: sh, two sleeps, cat (and nothing of the host's).
    const total = Number(/ \d+\/(\d+) /.exec(s.loadavg!)?.[1]);
    assert.ok(total >= 3 && total < 20, s.loadavg);
    assert.match(agent.log, /serving policies=proc-view,sysinfo|serving policies=sysinfo,proc-view/);
  });
});

test.run();
