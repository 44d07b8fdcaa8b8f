import { execFileSync } from 'node:child_process';

/**
 * A real client from the distribution, for the e2e tier: on CI (which installs it) its absence
 * is a failure, elsewhere a skip reason.
 */
export function tool(name: string): string | false {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return false;
  } catch {
    if (process.env.CI) throw new Error(`${name} is required on CI (.ci/run installs it)`);
    return `${name} is not installed`;
  }
}
