// The OCI agent's fixed set of data-plane threads (--dataplane-threads, default one per CPU up to
// DEFAULT_MAX_THREADS), each serving many containers' listeners (multiplex-worker.ts) with one V8
// isolate and one privileged helper between them. They all start with the first container and then stay; a new container is
// assigned to the least loaded one: starting it then costs a message and its policies' instantiation
// from modules already compiled, no new thread or process.
//
// The helper is shared because nothing in it belongs to one container: every request carries the
// caller's root, cwd and user-namespace fds and its credentials, and the helper's kept impersonators
// are keyed by user namespace and ids (native/helper_pool.c). A thread serves one request at a time,
// so its helper does too, as before.
import type { Worker } from 'node:worker_threads';
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { native } from '../native.js';
import { log, type LogLevel } from '../log.js';
import { PrivilegedHelper } from '../emulate/helper-client.js';
import type { ControlMessage, WorkerMessage } from './protocol.js';
import type { ServedListenerConfig } from './served-listener.js';
import type { DataPlaneThreadConfig, ThreadControlMessage, ThreadMessage } from './thread-protocol.js';

const require = createRequire(import.meta.url);

/**
 * The default's cap. Each thread costs an isolate and a helper (~11 MiB) whatever it serves, and one
 * thread answers far more calls than a node's containers make (docs/performance.md, (e)): on a
 * 64-CPU node one per CPU would cost more than the containers themselves.
 */
export const DEFAULT_MAX_THREADS = 4;

/** How a DataPlane hears of its listener on a shared thread. */
export interface SlotEvents {
  /** The listener's own messages: ready, done, reloaded, reload-failed, log. */
  message(m: WorkerMessage): void;
  /** It is not served any more and never will be (its thread failed, or it could not be added or served). */
  failed(reason: string): void;
}

/** One listener on a shared thread, as its DataPlane drives it. */
export interface ThreadSlot {
  send(message: ControlMessage): void;
  /** Forget it (after its 'done' or failure): later messages of the thread about it are dropped. */
  release(): void;
}

export interface DataPlaneThreadsOptions {
  /** The most threads (default: one per CPU, at most DEFAULT_MAX_THREADS). */
  threads?: number;
  /** Start a privileged helper (native/helper.c) with each thread; only root can use one. */
  privilegedHelper: boolean;
  syncWakeUp: boolean;
}

type Helper = { helper: PrivilegedHelper; process: ChildProcess };

class DataPlaneThread {
  readonly slots = new Map<number, SlotEvents>();
  ready = false;
  dead = false;
  /** Helpers replaced, oldest first: each is closed once the thread says it uses the next one. */
  readonly retiring: Helper[] = [];

  constructor(
    readonly worker: Worker,
    readonly wakeFd: number,
    public helper: Helper | null,
  ) {}

  /**
   * A thread keeps the process alive exactly while it serves a listener (as a worker of its own
   * did): an agent that handed over its other containers must not exit while it still serves one it
   * kept, nor be held up by idle threads once it serves none.
   */
  updateRef(): void {
    if (this.dead) return;
    if (this.slots.size > 0) this.worker.ref(); else this.worker.unref();
  }

  post(message: ThreadControlMessage): void {
    if (this.dead) return;
    this.worker.postMessage(message);
    native.eventfdWrite(this.wakeFd, 1);
  }
}

export class DataPlaneThreads {
  private readonly max: number;
  private readonly threads: DataPlaneThread[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly opts: DataPlaneThreadsOptions) {
    this.max = Math.max(1, opts.threads ?? Math.min(availableParallelism(), DEFAULT_MAX_THREADS));
  }

  /** Threads running now. */
  get count(): number { return this.threads.length; }

  /**
   * Serves `listener` on one of the threads (starting the first if none runs). Throws when no thread
   * can be started; the listener is then not served, and stays the caller's to close.
   */
  attach(listener: ServedListenerConfig, events: SlotEvents): ThreadSlot {
    if (this.closed) throw new Error('the data-plane threads have been stopped');
    // All of them with the first container, so that the next ones find them up and are spread over
    // them from the start (a container that arrives before its thread is up waits for it; spreading
    // matters more: it spreads what one container's slow emulation holds up). One that failed is
    // replaced with the next container. At least one must run.
    if (this.threads.length === 0) this.start();
    this.topUp();
    const thread = this.pick();
    const id = this.nextId++;
    thread.slots.set(id, events);
    thread.updateRef();
    thread.post({ type: 'add', id, listener });
    return {
      send: (message) => { if (thread.slots.has(id)) thread.post({ type: 'to', id, message }); },
      release: () => { thread.slots.delete(id); thread.updateRef(); },
    };
  }

  /** Starts threads up to the maximum. */
  private topUp(): void {
    while (this.threads.length < this.max && !this.closed) {
      try {
        this.start();
      } catch (e) {
        log('warn', `cannot start another data-plane thread: ${(e as Error).message}`);
        return;
      }
    }
  }

  /**
   * The least loaded thread (spreading containers spreads what one container's slow emulation holds
   * up), of equally loaded ones one that is up.
   */
  private pick(): DataPlaneThread {
    let best = this.threads[0]!;
    for (const t of this.threads) {
      if (t.slots.size < best.slots.size || (t.slots.size === best.slots.size && t.ready && !best.ready)) best = t;
    }
    return best;
  }

  private start(): DataPlaneThread {
    const helper = this.opts.privilegedHelper ? PrivilegedHelper.start() : null;
    let wakeFd = -1;
    let worker: Worker;
    try {
      wakeFd = native.eventfd();
      const config: DataPlaneThreadConfig = {
        wakeFd,
        helperFd: helper ? helper.helper.socketFd : -1,
        helperPidfd: helper ? helper.helper.pidfd : -1,
        supervisorUsernsInode: native.nsInode(process.pid, 'user'),
        syncWakeUp: this.opts.syncWakeUp,
      };
      const { Worker } = require('node:worker_threads') as typeof import('node:worker_threads');
      worker = new Worker(new URL('./multiplex-worker.js', import.meta.url), { workerData: config, stdout: true, stderr: true });
    } catch (e) {
      if (wakeFd >= 0) native.close(wakeFd);
      if (helper) releaseHelper(helper);
      throw e;
    }
    // Idle until it serves a listener (updateRef).
    worker.unref();
    const thread = new DataPlaneThread(worker, wakeFd, helper);
    this.threads.push(thread);
    log('debug', `data-plane thread ${this.threads.length} of at most ${this.max} started`);
    worker.stdout.on('data', (chunk: Buffer) => process.stdout.write(chunk));
    worker.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    worker.on('message', ({ id, message }: ThreadMessage) => {
      if (id === 0) {
        if (message.type === 'log') log(message.level as LogLevel, message.message);
        else if (message.type === 'helper-lost') this.replaceHelper(thread);
        else if (message.type === 'helper-replaced') { const old = thread.retiring.shift(); if (old) releaseHelper(old); }
        return;
      }
      const events = thread.slots.get(id);
      if (events === undefined) return;
      if (message.type === 'ready') thread.ready = true;
      if (message.type === 'failed') { thread.slots.delete(id); thread.updateRef(); events.failed(message.reason); return; }
      if (message.type !== 'helper-lost' && message.type !== 'helper-replaced') events.message(message);
    });
    worker.on('error', (e) => {
      log('error', `a data-plane thread failed: ${e.message.split('\n')[0]}; the ${thread.slots.size} container(s) it served are released`);
      if (e.stack) log('debug', e.stack);
      this.end(thread, e.message.split('\n')[0]!);
    });
    worker.on('exit', () => this.end(thread, 'its data-plane thread ended'));
    return thread;
  }

  /** The thread's helper was killed for not answering in time: it gets a new one (its old fds closed once it uses the new). */
  private replaceHelper(thread: DataPlaneThread): void {
    if (thread.dead || thread.helper === null) return;
    let fresh: Helper;
    try {
      fresh = PrivilegedHelper.start();
    } catch (e) {
      log('error', `cannot start a new privileged helper for a data-plane thread: ${(e as Error).message}; its containers' emulations that need one fail`);
      return;
    }
    log('warn', `a data-plane thread's privileged helper was killed (no answer within its time limit); started a new one for its ${thread.slots.size} container(s)`);
    thread.retiring.push(thread.helper);
    thread.helper = fresh;
    thread.post({ type: 'helper', socketFd: fresh.helper.socketFd, pidfd: fresh.helper.pidfd });
  }

  /** A thread is gone: each of its listeners fails (its DataPlane closes it: the kernel answers ENOSYS). */
  private end(thread: DataPlaneThread, reason: string): void {
    if (thread.dead) return;
    thread.dead = true;
    const i = this.threads.indexOf(thread);
    if (i >= 0) this.threads.splice(i, 1);
    const slots = [...thread.slots.values()];
    thread.slots.clear();
    for (const events of slots) events.failed(reason);
    void thread.worker.terminate().finally(() => {
      native.close(thread.wakeFd);
      if (thread.helper) releaseHelper(thread.helper);
      for (const old of thread.retiring.splice(0)) releaseHelper(old);
    });
  }

  /** Ends every thread (the agent stops or has handed over: none serves a listener any more). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.threads].map(async (t) => {
      t.post({ type: 'stop-thread' });
      this.end(t, 'the data-plane threads have been stopped');
    }));
  }
}

/** The helper exits when its socket closes; it must not keep this process alive meanwhile. */
function releaseHelper(h: Helper): void {
  h.helper.close();
  h.helper.closePidfd();
  h.process.unref();
}
