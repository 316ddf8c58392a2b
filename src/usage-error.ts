// Its own module so that what runs before the rest is loaded (the agent's early socket, src/oci/early.ts)
// can throw it without loading src/run.ts.

/** A failure before anything was started: the CLI prints it as one line and exits 2. */
export class UsageError extends Error {}
