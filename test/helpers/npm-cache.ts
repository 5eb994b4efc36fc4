/**
 * A lean copy of an npm cache: only what installing some packages reads (their packuments and tarballs, and those of
 * everything they depend on, for every version the cache holds), so a test can install offline, clean the cache or
 * hand it to another user without copying (or touching) the whole of the machine's.
 *
 * The cache is cacache's layout: `index-v5/` holds one bucket file per key (lines `<sha1>\t<json>`, the json naming
 * the key and the content's integrity), `content-v2/<algo>/<hex…>` the content by integrity. npm's keys are
 * `make-fetch-happen:request-cache:<registry URL>` (a packument, or a tarball under `/-/`) and `pacote:tarball:<name>@<version>`.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

interface Entry {
  bucket: string;
  name: string;
  /** The version of a tarball entry; undefined for a packument. */
  version?: string;
  integrity: string;
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

/** The package (and version, for a tarball) a cache key is about; null for anything else. */
function keyed(key: string): { name: string; version?: string } | null {
  const pacote = /^pacote:tarball:(@?[^@]+)@(.+)$/.exec(key);
  if (pacote) return { name: pacote[1]!, version: pacote[2]! };
  const url = /^make-fetch-happen:request-cache:https?:\/\/[^/]+\/(.+)$/.exec(key);
  if (!url) return null;
  const tarball = /^(.+)\/-\/.+-(\d+\.\d+\.\d+[^/]*)\.tgz$/.exec(url[1]!);
  if (tarball) return { name: decodeURIComponent(tarball[1]!), version: tarball[2]! };
  return { name: decodeURIComponent(url[1]!) };
}

function contentPath(cache: string, integrity: string): string {
  const [algo, base64] = integrity.split(' ')[0]!.split(/-(.*)/s);
  const hex = Buffer.from(base64!, 'base64').toString('hex');
  return join(cache, 'content-v2', algo!, hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
}

function readEntries(cache: string): Entry[] {
  const entries: Entry[] = [];
  for (const bucket of files(join(cache, 'index-v5'))) {
    for (const line of readFileSync(bucket, 'utf8').split('\n')) {
      const json = line.slice(line.indexOf('\t') + 1);
      if (!json) continue;
      const { key, integrity } = JSON.parse(json) as { key: string; integrity?: string };
      const what = keyed(key);
      if (what && integrity) entries.push({ bucket, integrity, ...what });
    }
  }
  return entries;
}

type Manifest = Partial<
  Record<'version' | 'name', string> & Record<'dependencies' | 'optionalDependencies' | 'peerDependencies', Record<string, string>>
>;

/** The names a manifest depends on (optional and peer dependencies too: npm installs them). */
const dependencyNames = (m: Manifest) => [m.dependencies, m.optionalDependencies, m.peerDependencies].flatMap((d) => Object.keys(d ?? {}));

/**
 * Copies into `to` the entries of `from` (an npm cache folder, the one holding `_cacache`) for `roots` and all they
 * depend on, transitively, through every version of them the cache holds. What a version depends on is read from
 * `lockfile` (a package-lock.json, fast) when it lists that version, else from the cached packument (a version npm
 * resolved afresh, e.g. a newer one another Node picked). Returns the number of packages copied.
 */
export function leanNpmCache(from: string, to: string, roots: string[], lockfile: string): number {
  const source = join(from, '_cacache');
  const target = join(to, '_cacache');
  const byName = new Map<string, Entry[]>();
  for (const entry of readEntries(source)) {
    const list = byName.get(entry.name);
    if (list) list.push(entry);
    else byName.set(entry.name, [entry]);
  }
  const locked = new Map<string, Manifest>();
  const { packages } = JSON.parse(readFileSync(lockfile, 'utf8')) as { packages: Record<string, Manifest> };
  for (const [path, manifest] of Object.entries(packages)) {
    const name = manifest.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    if (path !== '' && manifest.version) locked.set(`${name}@${manifest.version}`, manifest);
  }

  const wanted = new Set<string>();
  const queue = [...roots];
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    if (wanted.has(name)) continue;
    wanted.add(name);
    const entries = byName.get(name) ?? [];
    const versions = new Set(entries.flatMap((e) => (e.version === undefined ? [] : [e.version])));
    const unlocked = [...versions].filter((v) => !locked.has(`${name}@${v}`));
    for (const v of versions) if (locked.has(`${name}@${v}`)) queue.push(...dependencyNames(locked.get(`${name}@${v}`)!));
    const packument = entries.find((e) => e.version === undefined);
    if (unlocked.length === 0 || !packument) continue;
    const parsed = JSON.parse(readFileSync(contentPath(source, packument.integrity), 'utf8')) as { versions: Record<string, Manifest> };
    for (const v of unlocked) if (parsed.versions[v]) queue.push(...dependencyNames(parsed.versions[v]!));
  }

  for (const name of wanted) {
    for (const entry of byName.get(name) ?? []) {
      for (const [file, into] of [
        [entry.bucket, join(target, relative(source, entry.bucket))],
        [contentPath(source, entry.integrity), contentPath(target, entry.integrity)],
      ] as const) {
        mkdirSync(dirname(into), { recursive: true });
        copyFileSync(file, into);
      }
    }
  }
  return [...wanted].filter((name) => byName.has(name)).length;
}
