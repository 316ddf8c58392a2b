// What bin/wasmsup runs (with Node's permission model on: see src/signals.ts). `wasmsup agent` binds
// its socket before the rest is even loaded (src/oci/early.ts); everything else starts with the CLI.
// early.ts is imported only for the agent: every module is about a millisecond of `run`'s start-up.
const args = process.argv.slice(2);
if (args[0] === 'agent') (await import('./oci/early.js')).listenEarly(args.slice(1));
const { main } = await import('./cli.js');
const code = await main(args);
// `run` has nothing left to do once main() returns (its data plane has finished; stdout and stderr are
// synchronous on Linux files, pipes and terminals): process.exit skips Node's teardown of the isolates'
// heaps, ~3 ms of every run. The other commands end as Node ends them.
if (args[0] === 'run') process.exit(code);
process.exitCode = code;
