/**
 * The system programs the suite drives for real, checked before any test: `npm test` runs this file first (so a
 * machine without one stops in a second, not four minutes in), and test/vitest.config.ts runs it as its globalSetup
 * (so `npx vitest` does too). Prints the one `apt-get install` line that fixes what is missing.
 *
 * Each program is looked up the way the tests that use it look it up (the same environment overrides).
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian puts daemons in sbin, often off a user's PATH (the clamav template's tests look there too). */
const SBIN = ['/usr/sbin', '/usr/local/sbin'];

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name, env, extra = []) {
  return [...(env.PATH ?? '').split(delimiter), ...extra].some((dir) => dir !== '' && executable(join(dir, name)));
}

/** What the suite runs, in the order of the apt line: the program, its Debian package, and whether it is there. */
const PROGRAMS = [
  // test/helpers/redis.ts: the BullMQ queue tests.
  {
    program: 'redis-server',
    pkg: 'redis-server',
    found: (env) => (env.REDIS_SERVER ? executable(env.REDIS_SERVER) : onPath('redis-server', env)),
  },
  // The clamav template's own tests (init-templates.test.ts runs them): clamscan, and clamd on a unix socket.
  { program: 'clamscan', pkg: 'clamav', found: (env) => onPath('clamscan', env) },
  { program: 'clamd', pkg: 'clamav-daemon', found: (env) => (env.CLAMD_PATH ? executable(env.CLAMD_PATH) : onPath('clamd', env, SBIN)) },
  // test-corpus.test.ts and inspector-browser.test.ts read pages back in Debian's headless chromium.
  { program: '/usr/bin/chromium', pkg: 'chromium', found: () => executable('/usr/bin/chromium') },
];

/** The programs missing from this machine, with their packages (empty when all are there). */
export function missingSystemPackages(env = process.env) {
  return PROGRAMS.filter((p) => !p.found(env)).map(({ program, pkg }) => ({ program, pkg }));
}

/** The message for what is missing: what, then the apt line alone on its own line (null when nothing is). */
export function systemDepsMessage(env = process.env) {
  const missing = missingSystemPackages(env);
  if (missing.length === 0) return null;
  const packages = [...new Set(missing.map((m) => m.pkg))];
  return (
    `The test suite runs redis-server, clamscan, clamd and /usr/bin/chromium for real; missing here: ${missing.map((m) => m.program).join(', ')}. Install with:\n` +
    `apt-get install -y ${packages.join(' ')}`
  );
}

/** Prints what is missing and exits 1; does nothing when all is there. */
function check() {
  const message = systemDepsMessage();
  if (message === null) return;
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/**
 * vitest globalSetup: stops before any test without the programs. It exits rather than throws: a thrown error comes
 * after vitest's "No test files found" and a stack, and the apt line is the whole point.
 */
export function setup() {
  check();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) check();
