// The command line. Every mistake a user can make here (an unknown flag, a missing value, a bad or
// missing policy file) ends in one line on stderr naming the flag or file and exit status 2, before
// anything is started.
import { parseArgs } from 'node:util';
import { basename, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { run, UsageError } from './run.js';
import { configureLog, LOG_LEVELS, type LogLevel, type LogFormat } from './log.js';
import { PolicyLoadError } from './policy/load.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const USAGE = `usage:
  wasmsup run [--policy FILE]... [--userns] [--userns-range HOST:COUNT] [--no-new-privs]
              [--fail-errno ERRNO] [--no-sync-wake-up] [--log-level LEVEL] [--log-format text|json] -- CMD [ARGS...]
  wasmsup build SRC.ts [-o OUT.wasm]
  wasmsup check FILE.wasm...
  wasmsup --version | --help`;

type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean; short?: string };

const RUN_OPTIONS: Record<string, OptionSpec> = {
  policy: { type: 'string', multiple: true },
  userns: { type: 'boolean' },
  'userns-range': { type: 'string' },
  'no-new-privs': { type: 'boolean' },
  'fail-errno': { type: 'string' },
  'no-sync-wake-up': { type: 'boolean' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

class CliError extends Error {}

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

function parseRange(text: string): { host: number; count: number } {
  const m = /^(\d+):(\d+)$/.exec(text);
  const host = m ? Number(m[1]) : NaN, count = m ? Number(m[2]) : NaN;
  if (!m || host < 1 || count < 1 || host + count > 2 ** 32 - 1) {
    throw new CliError(`run: --userns-range: "${text}" is not HOST:COUNT (e.g. 100000:65536)`);
  }
  return { host, count };
}

async function runCommand(args: string[]): Promise<number> {
  const { options, command } = splitCommand(args);
  const { values } = parse('run', options, RUN_OPTIONS, false);
  if (values.help) { console.log(USAGE); return 0; }
  if (command.length === 0) throw new CliError('run: missing the command to run (wasmsup run [OPTIONS] -- CMD [ARGS...])');
  const level = (values['log-level'] as string | undefined) ?? 'info';
  if (!LOG_LEVELS.includes(level as LogLevel)) throw new CliError(`run: --log-level: "${level}" is not one of ${LOG_LEVELS.join(', ')}`);
  const format = (values['log-format'] as string | undefined) ?? 'text';
  if (format !== 'text' && format !== 'json') throw new CliError(`run: --log-format: "${format}" is not text or json`);
  configureLog(level as LogLevel, format as LogFormat);
  return run({
    argv: command,
    policyFiles: ((values.policy as string[] | undefined) ?? []).map((f) => resolve(f)),
    userns: Boolean(values.userns),
    usernsRange: parseRange((values['userns-range'] as string | undefined) ?? '100000:65536'),
    noNewPrivs: Boolean(values['no-new-privs']),
    failErrno: parseErrno((values['fail-errno'] as string | undefined) ?? 'EPERM'),
    syncWakeUp: !values['no-sync-wake-up'],
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
  const { values, positionals } = parse('check', args, { help: { type: 'boolean', short: 'h' } }, true);
  if (values.help) { console.log(USAGE); return 0; }
  if (positionals.length === 0) throw new CliError('check: expected at least one .wasm file');
  const { checkReport } = await import('./policy/check.js');
  let ok = true;
  for (const file of positionals) {
    const report = checkReport(file);
    ok &&= report.ok;
    console.log(report.text);
  }
  return ok ? 0 : 1;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run': return await runCommand(rest);
      case 'build': return await buildCommand(rest);
      case 'check': return await checkCommand(rest);
      case '--version': case 'version': console.log(VERSION); return 0;
      case '--help': case '-h': case 'help': console.log(USAGE); return 0;
      case undefined: console.error(USAGE); return 2;
      default: throw new CliError(`unknown command "${command}" (expected run, build or check; see wasmsup --help)`);
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
