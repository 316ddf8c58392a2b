// Declaring which calls a policy wants to see. The declaration runs only inside `wasmsup build`
// (which calls the generated wasmsup_interest export once, in a sandbox) and ends up as JSON in the
// module's `wasmsup.policy` section, from which the host compiles the kernel filter. The host never
// runs it, so the allocations here cost nothing at run time.
//
//   intercept(Sys.getppid);                                              // every call
//   intercept(Sys.mknod)
//     .when(arg(1).masked(S_IFMT).eq(S_IFCHR))                           // (a)
//     .or(arg(1).masked(S_IFMT).eq(S_IFBLK));                            //  || (b)
//   intercept(Sys.openat).when(arg(2).masked(O_CREAT).eq(O_CREAT)).and(arg(3).gt(0o777));  // a && b

/** One comparison of a 64-bit argument, unsigned. */
export class Condition {
  constructor(
    readonly arg: i32,
    readonly op: string,
    readonly value: u64,
    readonly mask: u64 = 0,
    readonly masked: bool = false,
  ) {}
}

/** Argument `index` of the call, to compare (unsigned 64-bit, as the kernel filter does). */
export class ArgRef {
  constructor(readonly index: i32) {}
  eq(value: u64): Condition { return new Condition(this.index, "eq", value); }
  ne(value: u64): Condition { return new Condition(this.index, "ne", value); }
  lt(value: u64): Condition { return new Condition(this.index, "lt", value); }
  le(value: u64): Condition { return new Condition(this.index, "le", value); }
  gt(value: u64): Condition { return new Condition(this.index, "gt", value); }
  ge(value: u64): Condition { return new Condition(this.index, "ge", value); }
  /** The argument ANDed with `mask`, to compare for equality: `(arg & mask) == value`. */
  masked(mask: u64): MaskedArgRef { return new MaskedArgRef(this.index, mask); }
}

/** `(arg & mask)`, which the ABI compares for equality only (op `masked_eq`). */
export class MaskedArgRef {
  constructor(readonly index: i32, readonly mask: u64) {}
  eq(value: u64): Condition {
    if ((value & ~this.mask) != 0) abort("masked(mask).eq(value): value has bits outside mask, so it can never match");
    return new Condition(this.index, "masked_eq", value, this.mask, true);
  }
}

/** Argument `index` (0..5) of the intercepted call. */
export function arg(index: i32): ArgRef {
  if (<u32>index > 5) abort("arg(index): index must be 0..5");
  return new ArgRef(index);
}

/**
 * The calls of one syscall a policy wants to see: every call, or those matching an OR of AND-groups
 * of conditions built with when(), and() and or().
 */
export class Interception {
  readonly groups: Array<Array<Condition>> = [];
  constructor(readonly sys: i32) {}

  /** Only calls for which `condition` holds (the first AND-group). */
  when(condition: Condition): Interception {
    if (this.groups.length != 0) abort("when() starts the declaration: use and() or or() to extend it");
    this.groups.push([condition]);
    return this;
  }

  /** ...and `condition` too (added to the current AND-group). */
  and(condition: Condition): Interception {
    if (this.groups.length == 0) abort("and() needs a when() before it");
    this.groups[this.groups.length - 1].push(condition);
    return this;
  }

  /** ...or, alternatively, `condition` (starts a new AND-group). */
  or(condition: Condition): Interception {
    if (this.groups.length == 0) abort("or() needs a when() before it");
    this.groups.push([condition]);
    return this;
  }
}

const declared: Array<Interception> = [];

/** Declares that the policy wants to decide calls of portable syscall `sys` (`Sys.*`). */
export function intercept(sys: i32): Interception {
  if (sys <= 0) abort("intercept(sys): not a portable syscall id (use Sys.*)");
  const interception = new Interception(sys);
  declared.push(interception);
  return interception;
}

function hex(value: u64): string {
  if (value == 0) return "0x0";
  let digits = "";
  while (value != 0) {
    digits = String.fromCharCode(<i32>"0123456789abcdef".charCodeAt(<i32>(value & 0xf))) + digits;
    value >>= 4;
  }
  return "0x" + digits;
}

function conditionJson(c: Condition): string {
  let json = '{"arg":' + c.arg.toString() + ',"op":"' + c.op + '"';
  if (c.masked) json += ',"mask":"' + hex(c.mask) + '"';
  return json + ',"value":"' + hex(c.value) + '"}';
}

/**
 * The declarations as JSON: `[{"sys": ID, "when": [[COND, ...], ...]}, ...]`, syscalls by portable
 * id. `wasmsup build` turns the ids into names and wraps this into the `wasmsup.policy` section.
 */
export function interestJson(): string {
  let json = "[";
  for (let i = 0; i < declared.length; i++) {
    const interception = declared[i];
    if (i > 0) json += ",";
    json += '{"sys":' + interception.sys.toString();
    if (interception.groups.length > 0) {
      json += ',"when":[';
      for (let g = 0; g < interception.groups.length; g++) {
        const group = interception.groups[g];
        if (g > 0) json += ",";
        json += "[";
        for (let c = 0; c < group.length; c++) {
          if (c > 0) json += ",";
          json += conditionJson(group[c]);
        }
        json += "]";
      }
      json += "]";
    }
    json += "}";
  }
  return json + "]";
}
