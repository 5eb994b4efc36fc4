/**
 * The package as it would be published, tried the way the README says (Development, "Trying the package before
 * it is published"): `npm pack`, `npm exec --yes --package=./polyswarm-engine-x.y.z.tgz -- polyswarm-engine init …`, the
 * new project's own tests; then the generated Dockerfile's install step, run outside Docker as a non-root user,
 * for a project that depends on the tarball kept in its folder.
 *
 * Loopback only: every npm command runs with --offline, from a lean copy of the npm cache that `npm ci` of this
 * checkout filled: only the packages the tarball and the new project install (this package's dependencies and the
 * template's dev tools: typescript, vitest, @types/node), not the whole cache. A machine whose cache lacks one fails
 * here with npm's ENOTCACHED, naming it.
 *
 * The tarball is packed from the dist/ that `npm test` has just built (`npm pack --ignore-scripts`), not built a
 * second time by prepack; the first test checks that prepack still builds.
 */
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/bin.js';
import { leanNpmCache } from '../helpers/npm-cache.js';

const SLOW = 300_000;
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const TARBALL = `polyswarm-engine-${version}.tgz`;
let tmp: string;
let tarball: string;
let cache: string;

/** The environment of a user's shell: no vitest variables, colours off, npm offline on the given cache. */
function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH!,
    HOME: process.env.HOME!,
    NO_COLOR: '1',
    CI: '1',
    npm_config_offline: 'true',
    npm_config_cache: cache,
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    ...extra,
  };
}

function run(file: string, args: string[], cwd: string, env: Record<string, string> = userEnv(), uid?: number) {
  return execa(file, args, {
    cwd,
    env,
    extendEnv: false,
    reject: false,
    all: true,
    timeout: 240_000,
    ...(uid !== undefined ? { uid, gid: uid } : {}),
  });
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'pse-package-'));
  // World-traversable: the non-root user below works inside it.
  chmodSync(tmp, 0o755);
  // A lean copy of this machine's npm cache: the Dockerfile step ends with `npm cache clean --force`, which must not
  // empty the real one, and the non-root user needs a cache of its own.
  const real = (await execa('npm', ['config', 'get', 'cache'])).stdout.trim();
  cache = join(tmp, 'npm-cache');
  const manifest = (path: string) => JSON.parse(readFileSync(join(ROOT, path), 'utf8')) as Record<string, Record<string, string>>;
  const template = manifest('templates/typescript/package.json');
  const roots = [manifest('package.json').dependencies, template.dependencies, template.devDependencies].flatMap((d) =>
    Object.keys(d ?? {}),
  );
  leanNpmCache(
    real,
    cache,
    roots.filter((name) => name !== 'polyswarm-engine'),
    join(ROOT, 'package-lock.json'),
  );
  // `npm pack` of the dist/ the suite runs (npm test builds it first): prepack would build it again, and its
  // `rm -rf dist` would pull it from under the other e2e tests.
  expect(existsSync(join(ROOT, 'dist', 'index.js')), 'dist/ is not built: npm run build').toBe(true);
  const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp], ROOT);
  expect(pack.exitCode, pack.all).toBe(0);
  tarball = join(tmp, TARBALL);
  expect(existsSync(tarball)).toBe(true);
}, SLOW);
// Three installs' node_modules and the cache: on a loaded machine, more than the default 30 s hook timeout.
afterAll(() => rm(tmp, { recursive: true, force: true }), SLOW);

describe('the packed package', () => {
  it('ships the LICENSE, no source maps into unshipped sources, and no install-time script', async () => {
    const dry = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT);
    const files = (JSON.parse(dry.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
    expect(files).toContain('LICENSE');
    expect(files).toContain('dist/index.js');
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('src/'))).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; license: string };
    expect(Object.keys(pkg.scripts).filter((s) => ['preinstall', 'install', 'postinstall', 'prepare'].includes(s))).toEqual([]);
    // Packed above without scripts, from the dist/ already built; `npm pack` and `npm publish` build first.
    expect(pkg.scripts.prepack).toBe('npm run build');
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(new RegExp(`^${pkg.license} License`));
  });

  it(
    'installs from the tarball without npm listing it among packages with install scripts; its init points a new project at that very tarball',
    async () => {
      const host = join(tmp, 'host');
      mkdirSync(host);
      writeFileSync(join(host, 'package.json'), '{"private":true}');
      const r = await run('npm', ['install', tarball], host);
      expect(r.exitCode, r.all).toBe(0);
      expect(r.all).not.toMatch(/polyswarm-engine@[^\s]+ \((prepare|install|postinstall|preinstall)/);
      // Installed, not a checkout: the bin knows where it came from, and a new project depends on that tarball.
      const installedBin = join(host, 'node_modules', 'polyswarm-engine', 'bin', 'polyswarm-engine.js');
      const init = await run('node', [installedBin, 'init', 'e', '--yes', '--no-install', '--no-git'], tmp);
      expect(init.exitCode, init.all).toBe(0);
      expect(init.all).toContain(`polyswarm-engine dependency: file:${tarball} (the local package this CLI was installed from)`);
      const manifest = JSON.parse(readFileSync(join(tmp, 'e', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
      expect(manifest.dependencies['polyswarm-engine']).toBe(`file:${tarball}`);
    },
    SLOW,
  );
});

describe('trying it before it is published: npm exec --package=<tarball> -- polyswarm-engine init', () => {
  const dir = () => join(tmp, 'tried');

  it(
    'creates a project that depends on that tarball, installs it, and its own tests pass',
    async () => {
      const init = await run(
        'npm',
        [
          'exec',
          '--yes',
          `--package=${tarball}`,
          '--',
          'polyswarm-engine',
          'init',
          'tried',
          '--template',
          'typescript',
          '--yes',
          '--no-git',
        ],
        tmp,
      );
      expect(init.exitCode, init.all).toBe(0);
      expect(init.all).toContain(`polyswarm-engine dependency: file:${tarball}`);
      const test = await run('npm', ['test'], dir());
      expect(test.exitCode, test.all).toBe(0);
      expect(test.all).toMatch(/Tests\s+\d+ passed/);
    },
    SLOW,
  );

  it(
    "the Dockerfile's install step, run as a non-root user, installs a tarball kept in the project folder",
    async () => {
      // As the generated README says: the tarball inside the folder, installed from there.
      cpSync(tarball, join(dir(), TARBALL));
      const local = await run('npm', ['install', `./${TARBALL}`], dir());
      expect(local.exitCode, local.all).toBe(0);
      expect(
        (JSON.parse(readFileSync(join(dir(), 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies[
          'polyswarm-engine'
        ],
      ).toBe(`file:${TARBALL}`);

      const step = dockerInstallStep(readFileSync(join(dir(), 'Dockerfile'), 'utf8'));
      // What `COPY package.json package-lock.json* pnpm-lock.yaml* yarn.lock* *.tgz ./` brings into the image.
      const app = join(tmp, 'app');
      mkdirSync(app);
      for (const name of readdirSync(dir())) {
        if (/^(package\.json|package-lock\.json|pnpm-lock\.yaml|yarn\.lock|.*\.tgz)$/.test(name))
          cpSync(join(dir(), name), join(app, name));
      }
      const home = join(tmp, 'home');
      mkdirSync(home);
      const uid = process.getuid?.() === 0 ? 65534 : undefined;
      if (uid !== undefined) for (const path of [app, home, cache]) chownTree(path, uid);
      const r = await run('sh', ['-c', step], app, userEnv({ HOME: home, NODE_ENV: 'production' }), uid);
      expect(r.exitCode, `${step}\n${r.all}`).toBe(0);
      const bin = await run('node', [join(app, 'node_modules', '.bin', 'polyswarm-engine'), '--version'], app);
      expect(bin.stdout.trim()).toBe(version);
      // Production dependencies only.
      expect(existsSync(join(app, 'node_modules', 'vitest'))).toBe(false);
    },
    SLOW,
  );

  it("the Dockerfile's install step refuses a dependency on a path outside the folder, saying what to do", async () => {
    const step = dockerInstallStep(readFileSync(join(ROOT, 'templates', 'typescript', 'Dockerfile'), 'utf8'));
    const app = join(tmp, 'app-checkout');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'x', dependencies: { 'polyswarm-engine': `file:${ROOT}` } }, null, 2));
    const r = await run('sh', ['-c', step], app);
    expect(r.exitCode).toBe(1);
    expect(r.all).toContain(
      'package.json points polyswarm-engine at a path outside this folder: see README.md, "The polyswarm-engine dependency"',
    );
  });
});

/** The Dockerfile's `RUN` that installs the dependencies (the one after `COPY package.json …`), as a shell script. */
function dockerInstallStep(dockerfile: string): string {
  const lines = dockerfile.split('\n');
  const copy = lines.findIndex((l) => l.startsWith('COPY package.json'));
  let i = lines.findIndex((l, at) => at > copy && l.startsWith('RUN '));
  expect(copy).toBeGreaterThanOrEqual(0);
  const parts: string[] = [];
  for (let line = lines[i].slice(4); ; line = lines[++i]) {
    parts.push(line.replace(/\\$/, ''));
    if (!line.endsWith('\\')) break;
  }
  return parts.join('');
}

function chownTree(path: string, uid: number): void {
  chownSync(path, uid, uid);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) chownTree(child, uid);
    else chownSync(child, uid, uid);
  }
}
