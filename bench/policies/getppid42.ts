// Benchmark policy: getppid returns 42 without entering the kernel, so a benchmark measures the
// round trip through the supervisor and nothing else.
import { Sys, intercept, returnValue } from "wasmsup";

export function interest(): void {
  intercept(Sys.getppid);
}

export function decide(): i32 {
  return returnValue(42);
}
