/**
 * The README's and docs/' command blocks, run as written. Every ```sh block carries a note just above it:
 * `<!-- run -->` runs it here, in one engine project scaffolded by the built bin (this checkout linked as its
 * dependency, its `serve` running, as after `npm run dev`); `<!-- not run: reason -->` lists it with its reason
 * (test/unit/docs.test.ts fails on a block with neither). A ```text block under `<!-- output of: COMMAND -->` is
 * checked against what COMMAND prints, timings aside. The files the examples name (bounty.json, sample.exe, a
 * corpus…) are made first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/bin.js';
import { EICAR } from '../helpers/engines.js';
import { linkedProject } from '../helpers/linked-project.js';
import { commandBlocks } from '../helpers/markdown.js';
import { until } from '../helpers/poll.js';
import { BENIGN_BODY } from '../unit/protocol/reference-fixtures.js';

const FILES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((n) => n.endsWith('.md'))
    .map((n) => `docs/${n}`),
];
const TEXTS = Object.fromEntries(FILES.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]));
const BLOCKS = FILES.flatMap((f) => commandBlocks(f, TEXTS[f]!));

const tmp = mkdtempSync(join(tmpdir(), 'pse-docs-'));
let project: string;
let serve: ChildProcess | undefined;

/** What the examples name, in the project folder. */
function writeFixtures(dir: string): void {
  const write = (name: string, content: string | Buffer) => {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  };
  write('bounty.json', BENIGN_BODY);
  write(
    'answer.json',
    JSON.stringify({ verdict: 'malicious', bid: 1, metadata: { malware_family: 'EICAR-Test-File' } }).replace(
      '"bid":1',
      '"bid":1000000000000000000',
    ),
  );
  write('vote.json', JSON.stringify({ verdict: 'malicious', metadata: { malware_family: 'EICAR-Test-File' } }));
  write('sample.exe', EICAR);
  for (const root of ['corpus', 'samples']) {
    write(`${root}/malicious/eicar.com`, EICAR);
    write(`${root}/benign/readme.txt`, 'just text\n');
  }
  write('labels.csv', 'malicious/eicar.com,malicious\nbenign/readme.txt,benign\n');
}

/** Runs text as the user's shell would, in the project. */
const shell = (code: string) =>
  execa('sh', ['-e', '-c', code], {
    cwd: project,
    reject: false,
    all: true,
    timeout: 120_000,
    env: { NO_COLOR: '1', CI: '1', npm_config_package: undefined },
  });

beforeAll(async () => {
  project = await linkedProject(tmp, 'docs-engine');
  writeFixtures(project);
  // `npm run dev` in a second terminal: the project's serve, on a free port, found by `test` through its state file.
  serve = spawn('npm', ['run', 'dev', '--', '--port', '0', '--no-inspector'], { cwd: project, stdio: 'ignore', detached: true });
  await until(() => existsSync(join(project, '.polyswarm', 'serve.json')), "the project's serve to listen", 30_000);
}, 60_000);

afterAll(async () => {
  // npm's child (the serve) is in the same process group: stop them together, and wait for the group to end.
  if (serve?.pid) {
    let exited = false;
    serve.once('exit', () => {
      exited = true;
    });
    process.kill(-serve.pid, 'SIGTERM');
    await until(() => exited, 'npm run dev to stop', 15_000);
  }
  rmSync(tmp, { recursive: true, force: true });
});

describe('the command blocks of README.md and docs/', () => {
  it('lists what is not run, each with its reason', () => {
    const notRun = BLOCKS.filter((b) => b.note?.startsWith('not run: '));
    console.log(notRun.map((b) => `not run ${b.file}:${b.line}: ${b.note!.slice('not run: '.length)}`).join('\n'));
    expect(notRun.every((b) => b.note!.length > 'not run: '.length + 10)).toBe(true);
    expect(BLOCKS.filter((b) => b.note === null).map((b) => `${b.file}:${b.line}`)).toEqual([]);
  });

  for (const block of BLOCKS.filter((b) => b.note === 'run')) {
    it(`${block.file}:${block.line} runs as written`, async () => {
      const r = await shell(block.code);
      expect(r.exitCode, `${block.code}\n${r.all}`).toBe(0);
    }, 150_000);
  }

  it('the sample output printed in the docs is what the command prints, timings aside', async () => {
    const timing = (text: string) => text.replace(/\(\d+(?:ms|\.\d+s)\)/g, '(…)');
    let checked = 0;
    for (const file of FILES) {
      for (const [, command, sample] of TEXTS[file]!.matchAll(/<!-- output of: (.+?) -->\n```text\n([\s\S]*?)\n```/g)) {
        const r = await shell(command!);
        for (const line of sample!.split('\n')) expect(timing(r.all), `${file}: ${command}`).toContain(timing(line));
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
