// Tests that need root or user namespaces are the point of this project. Outside CI they may skip with a
// printed reason; with WASMSUP_REQUIRE_PRIVILEGED=1 (set by .ci/run) a skip is a failure instead.
import { existsSync, readFileSync } from 'node:fs';

export const requirePrivileged = process.env.WASMSUP_REQUIRE_PRIVILEGED === '1';

function userNamespacesAvailable(): boolean {
  try {
    const max = Number(readFileSync('/proc/sys/user/max_user_namespaces', 'utf8'));
    if (max === 0) return false;
  } catch { return false; }
  const clone = '/proc/sys/kernel/unprivileged_userns_clone';
  return !existsSync(clone) || process.getuid?.() === 0 || readFileSync(clone, 'utf8').trim() === '1';
}

/** Why this process cannot run privileged tests, or null when it can. */
export function privilegeGap(): string | null {
  if (process.getuid?.() !== 0) return `needs root (running as uid ${process.getuid?.()})`;
  if (!userNamespacesAvailable()) return 'needs user namespaces (max_user_namespaces is 0)';
  return null;
}

/**
 * Call at the top of a privileged test. Returns true when the test may go on. Otherwise prints the
 * reason and returns false (the caller returns early), or throws when WASMSUP_REQUIRE_PRIVILEGED=1.
 */
export function privileged(testName: string, extraGap: string | null = null): boolean {
  const gap = extraGap ?? privilegeGap();
  if (gap === null) return true;
  if (requirePrivileged) throw new Error(`${testName}: ${gap}, and WASMSUP_REQUIRE_PRIVILEGED=1 forbids skipping`);
  console.log(`  skip: ${testName}: ${gap}`);
  return false;
}
