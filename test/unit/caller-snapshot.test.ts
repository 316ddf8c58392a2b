// The caller snapshot (src/caller/snapshot.ts) and the host function that fills it: the credentials a
// policy's caller_creds read reach the emulation only for the same notification, and only when the
// notification was still valid after the read. This process's own thread is the caller; no root.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CallerSnapshot } from '../../src/caller/snapshot.js';
import { statusFiles } from '../../src/caller/status-files.js';
import { HostFunctions } from '../../src/dataplane/host-functions.js';
import { CredsBlockWriter } from '../../src/dataplane/creds-block.js';
import { FdInspector } from '../../src/dataplane/fd-info.js';
import { native } from '../../src/native.js';
import { CALLER_IN_SUPERVISOR_USERNS, CALLER_IN_WORKLOAD_USERNS, Creds, CredsBlock, Notif } from '../../src/layouts.js';
import { FakeListener } from '../support/fake-listener.js';

const ownUserns = native.nsInode(process.pid, 'user');

function notification(id: number): { notif: Uint8Array; words: Uint32Array } {
  const notif = new Uint8Array(128);
  const words = new Uint32Array(notif.buffer);
  words[Notif.ID_LO] = id;
  words[Notif.ID_HI] = 1;
  words[Notif.TID] = process.pid;
  return { notif, words };
}

test('a snapshot hands out credentials only once confirmed, and only for their notification', () => {
  const caller = new CallerSnapshot();
  const a = notification(1), b = notification(2);
  const creds = caller.readCreds(process.pid);
  assert.is(creds[Creds.UID], process.getuid!());
  assert.is(caller.credsOf(a.words), null, 'read, not confirmed');
  caller.confirm(a.words);
  assert.is(caller.credsOf(a.words), creds);
  assert.is(caller.credsOf(b.words), null, 'another notification');
  b.words[Notif.ID_LO] = 1; b.words[Notif.ID_HI] = 2;
  assert.is(caller.credsOf(b.words), null, 'the id\'s high word counts too');
  caller.readCreds(process.pid);
  assert.is(caller.credsOf(a.words), null, 'a new read is unconfirmed');
  caller.confirm(a.words);
  caller.forget();
  assert.is(caller.credsOf(a.words), null);
});

test('caller_creds: fills the block and confirms the snapshot while the notification is valid', () => {
  const listener = new FakeListener();
  const { notif, words } = notification(7);
  const caller = new CallerSnapshot();
  const writer = new CredsBlockWriter(-1, ownUserns);
  const host = new HostFunctions(listener, notif, words, caller, writer, new FdInspector(-1), () => {});
  const block = new Uint8Array(128);
  assert.is(host.callerCreds(block), 0);
  const w = new Uint32Array(block.buffer);
  assert.is(w[CredsBlock.UID], process.getuid!());
  assert.is(w[CredsBlock.FLAGS]! & (CALLER_IN_SUPERVISOR_USERNS | CALLER_IN_WORKLOAD_USERNS), CALLER_IN_SUPERVISOR_USERNS);
  assert.ok(caller.credsOf(words) !== null, 'the emulation may use them');

  listener.valid = false;
  assert.is(host.callerCreds(block), -2, 'ENOENT: the tid may name another process by now');
  assert.is(caller.credsOf(words), null, 'and nothing read may be used');
  writer.close();
  statusFiles.close();
});

test.run();
