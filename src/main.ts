// What bin/wasmsup runs (with Node's permission model on: see src/signals.ts).
import { main } from './cli.js';

process.exitCode = await main(process.argv.slice(2));
