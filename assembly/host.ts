// The host functions of the policy ABI (docs/policy-abi.md, section 3), exactly as the host provides
// them. Policies normally use the typed wrappers in target.ts, creds.ts and log.ts instead.

/** Copies up to `len` bytes of the caller's memory at `addr` to `dst`; bytes copied or -errno. */
@external("wasmsup", "read_memory")
export declare function read_memory(addr: u64, dst: usize, len: i32): i32;

/** Copies a NUL-terminated string (at most `cap` bytes incl. the NUL) to `dst`; its length or -errno. */
@external("wasmsup", "read_string")
export declare function read_string(addr: u64, dst: usize, cap: i32): i32;

/** Fills the 128-byte creds block at `dst`; 0 or -errno. */
@external("wasmsup", "caller_creds")
export declare function caller_creds(dst: usize): i32;

/**
 * Fills the 80-byte fd info block at `dst` about the caller's fd `fd`, and its path (at most `cap`
 * bytes, no NUL) at `path`; 0 or -errno (-EBADF: no such fd).
 */
@external("wasmsup", "fd_info")
export declare function fd_info(fd: i32, dst: usize, path: usize, cap: i32): i32;

/** Writes `len` bytes of UTF-8 at `ptr` to the host's log at `level` (0 debug .. 3 error). */
@external("wasmsup", "log")
export declare function log(level: i32, ptr: usize, len: i32): void;

// AssemblyScript's own abort (failed assertions, out-of-bounds accesses, explicit abort()) is
// redirected here by `wasmsup build` (asc --use abort=...), so a policy imports nothing from "env".
// The host logs the message and traps, which fails the call closed.
@external("wasmsup", "abort")
export declare function hostAbort(message: string | null = null, fileName: string | null = null, line: u32 = 0, column: u32 = 0): void;

// Added within abi 1 (docs/policy-abi.md, section 3): a module that uses them is refused by an older
// host at load, so a configured policy never runs unconfigured.

/** Copies up to `cap` bytes of the configuration to `dst`; its whole length (0: none was given). */
@external("wasmsup", "config_read")
export declare function config_read(dst: usize, cap: i32): i32;

/** During wasmsup_configure: `len` bytes of UTF-8 at `ptr` are why the configuration is refused. */
@external("wasmsup", "config_refuse")
export declare function config_refuse(ptr: usize, len: i32): void;

/** Copies up to `cap` bytes of the identity JSON to `dst`; its whole length. */
@external("wasmsup", "identity")
export declare function identity(dst: usize, cap: i32): i32;

/**
 * Stages `len` bytes at `src` to be written into the caller's out-buffer in argument `arg`, at
 * `offset`, if the decision is RETURN; 0 or -errno (-EINVAL: not an out-buffer of this call, or beyond
 * its declared size; -ENOSPC: the stage is full). Added within abi 1.
 */
@external("wasmsup", "write_out")
export declare function write_out(arg: i32, offset: i32, src: usize, len: i32): i32;
