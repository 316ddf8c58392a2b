// The command line. Every mistake a user can make here (an unknown flag, a missing value, a bad or
// missing policy file) ends in one line on stderr naming the flag or file and exit status 2, before
// anything is started.
import { parseArgs } from 'node:util';
import { basename, resolve } from 'node:path';
import { constants as osConstants } from 'node:os';
import { run } from './run.js';
import { PACKAGE_ROOT, packageVersion } from './package-root.js';
import { PolicyLoadError, UsageError } from './errors.js';
import { configureLog, LOG_LEVELS, type LogLevel, type LogFormat } from './log.js';
import { portableId } from './syscalls/tables.js';
import { inspectorSignalRisk } from './signals.js';
import { AGENT_OPTIONS, AGENT_SOCKET, LIMIT_OPTIONS } from './oci/options.js';
import type { MetricsAddress } from './metrics/address.js';
import { DEFAULT_ACTIONS, type DefaultAction } from './dataplane/protocol.js';

const USAGE = `usage:
  wasmsup run [--policy FILE [--policy-config FILE.json]]... [--policies DIR] [--label TEXT] [--intercept NAME,NAME...] [--userns] [--userns-range HOST:COUNT]
              [--no-new-privs] [--fail-errno ERRNO] [--default-action continue|fail|kill|freeze]
              [--no-sync-wake-up] [--wait-killable | --no-wait-killable] [--kill-on-exit]
              [--policy-fuel N] [--policy-memory MIB] [--max-traps N] [--max-lend CAP,...] [--audit FILE] [--metrics [HOST:]PORT]
              [--log-level LEVEL] [--log-format text|json] -- CMD [ARGS...]
  wasmsup build SRC.ts [-o OUT.wasm]
  wasmsup check [--policy-memory MIB] FILE.wasm...
  wasmsup check [--policy-memory MIB] --policy-config FILE.json FILE.wasm
  wasmsup agent [--socket PATH] [--policies DIR] [--pass-annotation KEY]... [--container-config all|none|NAME,...]
                [--fail-errno ERRNO] [--default-action continue|fail|kill|freeze]
                [--no-sync-wake-up] [--log-level LEVEL] [--log-format text|json]
                [--policy-fuel N] [--policy-memory MIB] [--max-traps N] [--max-lend CAP,...] [--audit FILE] [--metrics [HOST:]PORT]
                [--dataplane-threads N]
  wasmsup oci-config --policies DIR [--socket PATH] [PROFILE.json | config.json]
  wasmsup --version | --help

run's lifetime: wasmsup exits when the command has exited and nothing it started still uses the filter;
processes the command leaves running (daemons, background jobs) stay supervised, and wasmsup says how
many it waits for. Ctrl-C or SIGTERM then passes that signal on to them and kills what still runs 3 s
later (a second signal at once); --kill-on-exit ends them as soon as the command exits. The exit status is always the command's.

--wait-killable is the default where the kernel has it (Linux >= 5.19): a call wasmsup has received
is never interrupted by a signal; --wait-killable requires it, --no-wait-killable goes without
(docs/reliability.md).

--default-action: what a call routed to wasmsup that no policy decides gets: continue (the kernel runs
it; the default), fail (--fail-errno), kill or freeze (fail it, then kill or freeze the whole workload
or container; docs/oci.md). A container may choose its own with the io.wasmsup.default-action
annotation or a default-action= item in listenerMetadata.

--max-lend CAP[,CAP...]: the capabilities a policy may lend to a call the host performs as its caller
(AS_CALLER, docs/security.md), e.g. mknod,chown,fowner; none for nothing. A call lent more fails
closed with a log line. Default: mknod (what the shipped mknod policy lends).

Configuration (docs/policies.md): NAME.json beside NAME.wasm in --policies DIR, --policy-config FILE for
the --policy before it; per container the io.wasmsup.config.NAME annotation or a config.NAME= item in
listenerMetadata, which replaces the file's for that container.`;

type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean; short?: string };

export { LIMIT_OPTIONS };

const RUN_OPTIONS: Record<string, OptionSpec> = {
  policy: { type: 'string', multiple: true },
  'policy-config': { type: 'string', multiple: true },
  label: { type: 'string' },
  policies: { type: 'string' },
  intercept: { type: 'string', multiple: true },
  audit: { type: 'string' },
  metrics: { type: 'string' },
  ...LIMIT_OPTIONS,
  userns: { type: 'boolean' },
  'userns-range': { type: 'string' },
  'no-new-privs': { type: 'boolean' },
  'fail-errno': { type: 'string' },
  'default-action': { type: 'string' },
  'kill-on-exit': { type: 'boolean' },
  'no-sync-wake-up': { type: 'boolean' },
  'wait-killable': { type: 'boolean' },
  'no-wait-killable': { type: 'boolean' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

class CliError extends Error {}

function parseCount(command: string, flag: string, text: string, min: number, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new CliError(`${command}: --${flag}: "${text}" is not a whole number from ${min} to ${max}`);
  return n;
}

/**
 * --policy-fuel, --policy-memory (MiB → 64 KiB pages), --max-traps, --max-lend; undefined = the
 * default. --max-lend's parser (three modules) is loaded only with the flag.
 */
export async function parseLimits(command: string, values: Record<string, unknown>): Promise<{ fuel?: number; maximumPages?: number; maxTraps?: number; maxLend?: number }> {
  const fuel = values['policy-fuel'] as string | undefined;
  const lend = values['max-lend'] as string | undefined;
  let maxLend: number | undefined;
  try {
    maxLend = lend === undefined ? undefined : (await import('./dataplane/as-caller-operands.js')).parseMaxLend(lend);
  } catch (e) {
    throw new CliError(`${command}: --max-lend: ${(e as Error).message}`);
  }
  const memory = values['policy-memory'] as string | undefined;
  const traps = values['max-traps'] as string | undefined;
  return {
    fuel: fuel === undefined ? undefined : parseCount(command, 'policy-fuel', fuel, 1000, 0x7fffffff),
    maximumPages: memory === undefined ? undefined : parseCount(command, 'policy-memory', memory, 1, 4096) * 16,
    maxTraps: traps === undefined ? undefined : parseCount(command, 'max-traps', traps, 0, 1_000_000),
    maxLend,
  };
}

/** --metrics [HOST:]PORT (a bare port is 127.0.0.1); null without the flag. Loaded only with it. */
async function parseMetrics(command: string, text: string | undefined): Promise<MetricsAddress | null> {
  if (text === undefined) return null;
  const { parseMetricsAddress } = await import('./metrics/address.js');
  try {
    return parseMetricsAddress(text);
  } catch (e) {
    throw new CliError(`${command}: --metrics: ${(e as Error).message}`);
  }
}

/** --intercept mknod,mknodat --intercept chown: syscall names, each checked. */
function parseIntercept(values: string[] | undefined): string[] {
  const names = (values ?? []).flatMap((v) => v.split(',')).map((n) => n.trim()).filter(Boolean);
  for (const name of names) {
    if (portableId(name) === 0) throw new CliError(`run: --intercept: "${name}" is not a syscall name`);
  }
  return names;
}

/**
 * `--policy A.wasm --policy-config A.json --policy B.wasm`: each --policy-config configures the
 * --policy just before it; policy file -> configuration file, both resolved.
 */
function pairPolicyConfigs(options: string[]): Map<string, string> {
  const pairs = new Map<string, string>();
  let policy: string | null = null;
  for (let i = 0; i < options.length; i++) {
    const a = options[i]!;
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (!m || RUN_OPTIONS[m[1]!]?.type !== 'string') continue;
    const value = m[2] ?? options[++i] ?? '';
    if (m[1] === 'policy') policy = resolve(value);
    else if (m[1] === 'policy-config') {
      if (policy === null) throw new CliError('run: --policy-config FILE must follow the --policy FILE it configures');
      if (pairs.has(policy)) throw new CliError(`run: --policy ${policy} has two --policy-config files`);
      pairs.set(policy, resolve(value));
    }
  }
  return pairs;
}

/** agent --container-config all|none|NAME,NAME: which policies a container may configure; null = all. */
function parseContainerConfig(text: string | undefined): string[] | null {
  if (text === undefined || text === 'all') return null;
  if (text === 'none') return [];
  const names = text.split(',').map((n) => n.trim()).filter(Boolean);
  if (names.length === 0 || names.some((n) => !/^[a-z0-9_.-]{1,64}$/.test(n))) {
    throw new CliError(`agent: --container-config: "${text}" is not all, none or a list of policy names`);
  }
  return names;
}

/** run --label TEXT: what the policies' identity says they serve, `{"label": TEXT}`. */
function runIdentity(label: string | undefined): Uint8Array | null {
  if (label === undefined) return null;
  if (label.length > 4096 || /[\0-\x1f]/.test(label)) throw new CliError('run: --label: at most 4096 printable characters');
  return new TextEncoder().encode(JSON.stringify({ label }));
}

/** parseArgs, with its multi-line messages turned into one line naming the flag. */
function parse(command: string, args: string[], options: Record<string, OptionSpec>, positionals: boolean) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: positionals });
  } catch (e) {
    const err = e as Error & { code?: string };
    const flag = /'([^']+)'/.exec(err.message)?.[1];
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new CliError(`${command}: unknown option ${flag}`);
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new CliError(`${command}: ${err.message.split('\n')[0]}`);
    if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new CliError(`${command}: unexpected argument ${flag}`);
    throw new CliError(`${command}: ${err.message.split('\n')[0]}`);
  }
}

/**
 * Splits `run`'s arguments into its own options and the command: the command starts after `--`, or
 * at the first argument that is neither an option nor an option's value (as strace and unshare do).
 */
function splitCommand(args: string[]): { options: string[]; command: string[] } {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return { options: args.slice(0, i), command: args.slice(i + 1) };
    if (!a.startsWith('-') || a === '-') return { options: args.slice(0, i), command: args.slice(i) };
    const name = a.startsWith('--') ? a.slice(2) : Object.keys(RUN_OPTIONS).find((k) => RUN_OPTIONS[k]!.short === a.slice(1)) ?? '';
    if (RUN_OPTIONS[name]?.type === 'string' && !name.includes('=')) i++; // skip the value
  }
  return { options: args, command: [] };
}

// Node's os.constants.errno is the platform's own errno table, which is what the workload sees.
const ERRNO_NUMBERS = osConstants.errno as unknown as Record<string, number>;

function parseErrno(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : ERRNO_NUMBERS[text.toUpperCase()];
  if (n === undefined || n < 1 || n > 4095) {
    throw new CliError(`run: --fail-errno: "${text}" is not an errno name or a number from 1 to 4095`);
  }
  return n;
}

function parseDefaultAction(command: string, text: string | undefined): DefaultAction | undefined {
  if (text === undefined) return undefined;
  if (!(DEFAULT_ACTIONS as readonly string[]).includes(text)) {
    throw new CliError(`${command}: --default-action: "${text}" is not one of ${DEFAULT_ACTIONS.join(', ')}`);
  }
  return text as DefaultAction;
}

function parseWaitKillable(values: Record<string, unknown>): boolean | 'if-available' {
  if (values['wait-killable'] && values['no-wait-killable']) throw new CliError('run: --wait-killable and --no-wait-killable contradict each other');
  return values['wait-killable'] ? true : values['no-wait-killable'] ? false : 'if-available';
}

function parseRange(text: string): { host: number; count: number } {
  const m = /^(\d+):(\d+)$/.exec(text);
  const host = m ? Number(m[1]) : NaN, count = m ? Number(m[2]) : NaN;
  if (!m || host < 1 || count < 1 || host + count > 2 ** 32 - 1) {
    throw new CliError(`run: --userns-range: "${text}" is not HOST:COUNT (e.g. 100000:65536)`);
  }
  return { host, count };
}

/** The supervisor commands run as root for others: never in a Node that a signal can open up. */
function refuseOpenableInspector(command: string): void {
  const risk = inspectorSignalRisk();
  if (risk) throw new CliError(`${command}: ${risk}`);
}

async function runCommand(args: string[]): Promise<number> {
  const { options, command } = splitCommand(args);
  const { values } = parse('run', options, RUN_OPTIONS, false);
  if (values.help) { console.log(USAGE); return 0; }
  refuseOpenableInspector('run');
  if (command.length === 0) throw new CliError('run: missing the command to run (wasmsup run [OPTIONS] -- CMD [ARGS...])');
  const level = (values['log-level'] as string | undefined) ?? 'info';
  if (!LOG_LEVELS.includes(level as LogLevel)) throw new CliError(`run: --log-level: "${level}" is not one of ${LOG_LEVELS.join(', ')}`);
  const format = (values['log-format'] as string | undefined) ?? 'text';
  if (format !== 'text' && format !== 'json') throw new CliError(`run: --log-format: "${format}" is not text or json`);
  configureLog(level as LogLevel, format as LogFormat);
  return run({
    argv: command,
    policyFiles: ((values.policy as string[] | undefined) ?? []).map((f) => resolve(f)),
    policyConfigs: pairPolicyConfigs(options),
    identity: runIdentity(values.label as string | undefined),
    userns: Boolean(values.userns),
    usernsRange: parseRange((values['userns-range'] as string | undefined) ?? '100000:65536'),
    noNewPrivs: Boolean(values['no-new-privs']),
    failErrno: parseErrno((values['fail-errno'] as string | undefined) ?? 'EPERM'),
    defaultAction: parseDefaultAction('run', values['default-action'] as string | undefined),
    syncWakeUp: !values['no-sync-wake-up'],
    waitKillable: parseWaitKillable(values),
    killOnExit: Boolean(values['kill-on-exit']),
    policyDirectory: (values.policies as string | undefined) ?? null,
    intercept: parseIntercept(values.intercept as string[] | undefined),
    auditFile: (values.audit as string | undefined) ?? null,
    metrics: await parseMetrics('run', values.metrics as string | undefined),
    ...(await parseLimits('run', values)),
  });
}

async function buildCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('build', args, { out: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } }, true);
  if (values.help) { console.log(USAGE); return 0; }
  if (positionals.length !== 1) throw new CliError('build: expected exactly one source file (wasmsup build SRC.ts [-o OUT.wasm])');
  const src = positionals[0]!;
  const out = (values.out as string | undefined) ?? basename(src).replace(/\.ts$/, '') + '.wasm';
  const { buildPolicy, PolicyBuildError } = await import('./policy/build.js');
  let info;
  try {
    info = await buildPolicy(src, out);
  } catch (e) {
    // The compiler's diagnostics are already on stderr; this is the one summary line.
    if (e instanceof PolicyBuildError) { console.error(e.message); return 2; }
    throw e;
  }
  console.log(`${out}: policy "${info.name}", ${info.bytes} bytes`);
  return 0;
}

async function checkCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('check', args, {
    help: { type: 'boolean', short: 'h' }, 'policy-memory': { type: 'string' }, 'policy-config': { type: 'string' },
  }, true);
  if (values.help) { console.log(USAGE); return 0; }
  if (positionals.length === 0) throw new CliError('check: expected at least one .wasm file');
  const configFile = values['policy-config'] as string | undefined;
  if (configFile !== undefined && positionals.length !== 1) throw new CliError('check: --policy-config checks one .wasm file with it');
  const { maximumPages } = await parseLimits('check', values);
  const { checkReport } = await import('./policy/check.js');
  let ok = true;
  for (const file of positionals) {
    const report = checkReport(file, { maximumPages }, configFile ?? null);
    ok &&= report.ok;
    console.log(report.text);
  }
  return ok ? 0 : 1;
}

/** The shipped policies. */
const SHIPPED_POLICIES = `${PACKAGE_ROOT}build/policies`;

function configureLogFrom(command: string, values: Record<string, unknown>): void {
  const level = (values['log-level'] as string | undefined) ?? 'info';
  if (!LOG_LEVELS.includes(level as LogLevel)) throw new CliError(`${command}: --log-level: "${level}" is not one of ${LOG_LEVELS.join(', ')}`);
  const format = (values['log-format'] as string | undefined) ?? 'text';
  if (format !== 'text' && format !== 'json') throw new CliError(`${command}: --log-format: "${format}" is not text or json`);
  configureLog(level as LogLevel, format as LogFormat);
}

async function agentCommand(args: string[]): Promise<number> {
  const { values } = parse('agent', args, AGENT_OPTIONS as Record<string, OptionSpec>, false);
  if (values.help) { console.log(USAGE); return 0; }
  refuseOpenableInspector('agent');
  configureLogFrom('agent', values);
  const limits = await parseLimits('agent', values);
  const metrics = await parseMetrics('agent', values.metrics as string | undefined);
  let failErrno;
  try { failErrno = parseErrno((values['fail-errno'] as string | undefined) ?? 'EPERM'); } catch (e) { throw new CliError((e as Error).message.replace(/^run:/, 'agent:')); }
  const { runAgent } = await import('./oci/agent.js');
  return runAgent({
    socketPath: resolve((values.socket as string | undefined) ?? AGENT_SOCKET),
    policyDir: resolve((values.policies as string | undefined) ?? SHIPPED_POLICIES),
    failErrno,
    defaultAction: parseDefaultAction('agent', values['default-action'] as string | undefined),
    syncWakeUp: !values['no-sync-wake-up'],
    auditFile: values.audit === undefined ? null : resolve(values.audit as string),
    metrics,
    passAnnotations: (values['pass-annotation'] as string[] | undefined) ?? [],
    containerConfig: parseContainerConfig(values['container-config'] as string | undefined),
    dataPlaneThreads: values['dataplane-threads'] === undefined ? undefined : parseCount('agent', 'dataplane-threads', values['dataplane-threads'] as string, 1, 1024),
    ...limits,
  });
}

async function ociConfigCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('oci-config', args, {
    policies: { type: 'string' }, socket: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  }, true);
  if (values.help) { console.log(USAGE); return 0; }
  if (values.policies === undefined) throw new CliError('oci-config: --policies DIR is required (the directory the agent serves)');
  if (positionals.length > 1) throw new CliError('oci-config: expected at most one profile or config.json');
  const { ociConfigText } = await import('./oci/config.js');
  const text = ociConfigText({
    policyDir: resolve(values.policies as string),
    socketPath: resolve((values.socket as string | undefined) ?? AGENT_SOCKET),
    profileFile: positionals[0],
  }, (warning) => console.error(`wasmsup: oci-config: ${warning}`));
  console.log(text);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run': return await runCommand(rest);
      case 'build': return await buildCommand(rest);
      case 'check': return await checkCommand(rest);
      case 'agent': return await agentCommand(rest);
      case 'oci-config': return await ociConfigCommand(rest);
      case '--version': case 'version': console.log(packageVersion()); return 0;
      case '--help': case '-h': case 'help': console.log(USAGE); return 0;
      case undefined: console.error(USAGE); return 2;
      default: throw new CliError(`unknown command "${command}" (expected run, build, check, agent or oci-config; see wasmsup --help)`);
    }
  } catch (e) {
    if (e instanceof CliError || e instanceof UsageError || e instanceof PolicyLoadError) {
      console.error(`wasmsup: ${e.message}`);
      return 2;
    }
    const err = e as Error;
    console.error(err.message.startsWith('wasmsup: ') ? err.message : `wasmsup: ${err.message}`);
    if (process.env.WASMSUP_DEBUG) console.error(err.stack);
    return 125;
  }
}
