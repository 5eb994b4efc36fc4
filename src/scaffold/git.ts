/**
 * The new project's git repository: `git init` and a first commit, only when git exists and the folder is
 * not already inside a repository (a monorepo, or `init .` in a clone).
 */
import { execa } from 'execa';

export type GitOutcome =
  | { status: 'committed' }
  | { status: 'skipped'; reason: 'git-missing' | 'inside-repository' }
  | { status: 'failed'; message: string };

const git = (args: string[], cwd: string) => execa('git', args, { cwd, reject: false, stdin: 'ignore', env: { GIT_TERMINAL_PROMPT: '0' } });

/**
 * Creates the repository and commits everything not ignored (so `.env` stays out). The author identity
 * is only supplied when the user has none configured, so a configured name is never overridden.
 * Never throws: a failure is reported, the project is usable anyway.
 */
export async function initGitRepository(dir: string): Promise<GitOutcome> {
  const version = await git(['--version'], dir);
  if (version.failed) return { status: 'skipped', reason: 'git-missing' };
  const inside = await git(['rev-parse', '--is-inside-work-tree'], dir);
  if (!inside.failed && inside.stdout.trim() === 'true') return { status: 'skipped', reason: 'inside-repository' };

  const identity: string[] = [];
  if ((await git(['config', 'user.name'], dir)).stdout.trim() === '') identity.push('-c', 'user.name=polyswarm-engine');
  if ((await git(['config', 'user.email'], dir)).stdout.trim() === '') identity.push('-c', 'user.email=polyswarm-engine@localhost');

  for (const args of [
    ['init', '-q'],
    ['add', '-A'],
    [...identity, 'commit', '-q', '--no-verify', '-m', 'Initial commit from polyswarm-engine init'],
  ]) {
    const result = await git(args, dir);
    if (result.failed) return { status: 'failed', message: (result.stderr || result.shortMessage || 'git failed').trim().split('\n')[0] };
  }
  return { status: 'committed' };
}
