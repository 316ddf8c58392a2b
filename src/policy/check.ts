// `wasmsup check FILE...`: whether the host would load a policy module, and what it declares.
import type { ArgCondition, SyscallInterest } from '../filter/types.js';
import { DEFAULT_MAXIMUM_PAGES, PAGE_BYTES, mib } from './abi.js';
import { PolicyLoadError } from '../errors.js';
import { loadPolicy, type LoadOptions } from './load.js';
import { readConfigurationFile, trialInstantiate, withConfiguration } from './configuration.js';

const OPS: Record<string, string> = { eq: '==', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=' };

function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}

/** `(arg1 & 0xf000) == 0x2000`, `arg0 > 0x10` */
export function formatCondition(c: ArgCondition): string {
  if (c.op === 'masked_eq') return `(arg${c.arg} & ${hex(c.mask ?? 0n)}) == ${hex(c.value)}`;
  return `arg${c.arg} ${OPS[c.op] ?? c.op} ${hex(c.value)}`;
}

/** `mknod when (arg1 & 0xf000) == 0x2000 || (arg1 & 0xf000) == 0x6000`; a multi-condition group in parentheses. */
export function formatInterest(interest: SyscallInterest): string {
  if (!interest.when || interest.when.length === 0) return `${interest.syscall} (every call)`;
  const groups = interest.when.map((group) => {
    const text = group.map(formatCondition).join(' && ');
    return group.length > 1 && interest.when!.length > 1 ? `(${text})` : text;
  });
  return `${interest.syscall} when ${groups.join(' || ')}`;
}

function pages(n: number): string {
  return `${n} page${n === 1 ? '' : 's'} (${n * PAGE_BYTES < 1024 * 1024 ? `${(n * PAGE_BYTES) / 1024} KiB` : mib(n)})`;
}

/**
 * The report for one file: `ok` says whether the host would load it (with the configuration file
 * `configFile`, when given); `text` ends without a newline.
 */
export function checkReport(file: string, options: LoadOptions = {}, configFile: string | null = null): { ok: boolean; text: string } {
  try {
    const config = configFile === null ? null : readConfigurationFile(configFile, false);
    const info = withConfiguration(loadPolicy(file, options), config, configFile);
    // What `run` does before accepting it: the start code must finish, within its fuel, and the
    // policy must accept its configuration; what it says meanwhile is what it understood.
    const said: string[] = [];
    trialInstantiate(info, (_level, message) => { if (said.length < 64) said.push(message.replace(/\s*[\r\n]+\s*/g, ' ')); });
    const m = info.metering;
    const indent = '\n            ';
    const lines = [
      `${file}: ok`,
      `  abi:      ${info.abi}`,
      `  name:     ${info.name}`,
      `  interest: ${info.interest.length ? info.interest.map(formatInterest).join(indent) : '(none)'}`,
      `  imports:  ${info.imports.length ? info.imports.map((i) => `${i.module}.${i.name}`).join(', ') : '(none)'}`,
      `  exports:  ${info.exports.join(', ')}`,
      `  memory:   initial ${pages(info.memory.initialPages)}, maximum ${info.memory.maximumPages === null ? 'none' : pages(info.memory.maximumPages)}`,
      `  limits:   memory cap ${pages(options.maximumPages ?? DEFAULT_MAXIMUM_PAGES)}; ${m
        ? `fuel ${m.fuel} per decision, charged at ${m.functions} function entries and ${m.loops} loop headers`
        : 'not metered'}`,
      `  size:     ${info.bytes} bytes`,
    ];
    if (info.configurable) lines.push('  config:   takes a configuration (wasmsup_configure)');
    if (configFile !== null) {
      lines.push(`  accepted: ${configFile}: ${JSON.stringify(JSON.parse(new TextDecoder().decode(config!)))}`);
      for (const line of said) lines.push(`            ${line}`);
    }
    return { ok: true, text: lines.join('\n') };
  } catch (e) {
    if (e instanceof PolicyLoadError) return { ok: false, text: `${e.file}: refused: ${e.reason}` };
    throw e;
  }
}
