// The agent's command-line options and hand-over variable, in a module without imports: the early
// listen (src/oci/early.ts) parses the command line before the CLI is loaded.

/** The sandbox limits of policies, shared by `run` and `agent` (docs/lifecycle.md). */
export const LIMIT_OPTIONS = {
  'policy-fuel': { type: 'string' },
  'policy-memory': { type: 'string' },
  'max-traps': { type: 'string' },
  'max-lend': { type: 'string' },
} as const;

export const AGENT_OPTIONS = {
  socket: { type: 'string' }, policies: { type: 'string' }, 'fail-errno': { type: 'string' }, 'no-sync-wake-up': { type: 'boolean' },
  'default-action': { type: 'string' },
  'log-level': { type: 'string' }, 'log-format': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  audit: { type: 'string' }, metrics: { type: 'string' },
  'pass-annotation': { type: 'string', multiple: true }, 'container-config': { type: 'string' },
  'dataplane-threads': { type: 'string' },
  ...LIMIT_OPTIONS,
} as const;

export const AGENT_SOCKET = '/run/wasmsup/agent.sock';

/** The environment variable through which an agent hands its socket and containers to its successor. */
export const HANDOVER_ENV = 'WASMSUP_AGENT_HANDOVER';
