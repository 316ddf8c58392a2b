// What bin/wasmsup runs (with Node's permission model on: see src/signals.ts). `wasmsup agent` binds
// its socket before the rest is even loaded (src/oci/early.ts); everything else starts with the CLI.
// early.ts is imported only for the agent: every module is about a millisecond of `run`'s start-up.
const args = process.argv.slice(2);
if (args[0] === 'agent') (await import('./oci/early.js')).listenEarly(args.slice(1));
const { main } = await import('./cli.js');
process.exitCode = await main(args);
