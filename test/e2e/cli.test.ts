import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runBin } from '../helpers/bin.js';

const tmp = mkdtempSync(join(tmpdir(), 'pse-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, content: string | Uint8Array) => {
  const path = join(tmp, name);
  writeFileSync(path, content);
  return path;
};
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('polyswarm-engine (built bin)', () => {
  it('--help lists every command with examples and the exit codes', async () => {
    const r = await runBin(['--help']);
    expect(r.exitCode).toBe(0);
    for (const cmd of ['init', 'serve', 'start', 'worker', 'test', 'sign', 'secret', 'check'])
      expect(r.stdout).toMatch(new RegExp(`^  ${cmd}\\b`, 'm'));
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('Exit codes: 0 ok, 1 a check failed, 2 usage error, 3 engine unreachable, 130 interrupted.');
  });

  it('every command has --help with examples', async () => {
    const commands = [
      ['init'],
      ['serve'],
      ['start'],
      ['worker'],
      ['test'],
      ['test', 'ping'],
      ['test', 'bounty'],
      ['test', 'analyze'],
      ['test', 'all'],
      ['sign'],
      ['secret'],
      ['check'],
    ];
    for (const cmd of commands) {
      const r = await runBin([...cmd, '--help']);
      expect(r.exitCode, cmd.join(' ')).toBe(0);
      expect(r.stdout, cmd.join(' ')).toContain('Usage: polyswarm-engine');
      expect(r.stdout, cmd.join(' ')).toContain('Examples:');
    }
  });

  it('--help groups the flags: the everyday ones first, production and queue ones under their headings', async () => {
    const headings = (help: string) => [...help.matchAll(/^([A-Z][^\n]*):$/gm)].map((m) => m[1]);
    const serve = await runBin(['serve', '--help']);
    expect(headings(serve.stdout)).toEqual(['Options', 'Production', 'Queue and limits', 'Examples']);
    const everyday = serve.stdout.slice(serve.stdout.indexOf('Options:'), serve.stdout.indexOf('Production:'));
    for (const flag of ['--port', '--host', '--secret ', '--cwd', '--no-watch', '--inspector-port']) expect(everyday).toContain(flag);
    for (const flag of ['--lock-duration', '--statsd', '--max-queued-bytes', '--queue ', '--egress']) expect(everyday).not.toContain(flag);
    const start = await runBin(['start', '--help']);
    expect(headings(start.stdout)).toEqual(['Options', 'Production', 'Queue and limits', 'Recording (for test replay)', 'Examples']);

    const bounty = await runBin(['test', 'bounty', '--help']);
    expect(headings(bounty.stdout)).toEqual([
      'Options',
      'Artifact (one of)',
      'Bounty',
      'Output',
      'Callbacks (an engine in a container or on another host)',
      'Examples',
    ]);
    // The engine's --url and the two artifact URLs cannot be taken for one another; the old names are not listed.
    expect(bounty.stdout).toMatch(/--remote-file <url> +a file the engine downloads from this URL/);
    expect(bounty.stdout).toMatch(/--scan-url <url> +a URL artifact/);
    expect(bounty.stdout).not.toMatch(/--artifact-url|--url-artifact/);
  });

  it('--version and -V print the package version', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await runBin([flag]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout.trim()).toBe(version);
    }
  });

  it('an unknown command is a usage error with a suggestion', async () => {
    const r = await runBin(['serv']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("unknown command 'serv'");
    expect(r.stderr).toContain('(Did you mean serve?)');
  });

  it('an unknown option is a usage error with a suggestion', async () => {
    const r = await runBin(['sign', '--secrte', 'x']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("unknown option '--secrte'");
    expect(r.stderr).toContain('(Did you mean --secret?)');
  });

  it('`test` without a subcommand shows its usage and exits 2', async () => {
    const r = await runBin(['test']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('Usage: polyswarm-engine test');
  });
});

describe('polyswarm-engine sign', () => {
  it('signs a file with --secret (reference test vector)', async () => {
    const r = await runBin(['sign', file('empty-object.json', '{}'), '--secret', 'qwertyuiop']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('19fb4b920450909175ffc138528c95a39d278020a673e7314f03475719414bc6');
  });

  it("signs stdin's exact bytes, including a ping's empty body", async () => {
    const empty = await runBin(['sign', '-', '--secret', 'qwertyuiop'], { input: '' });
    expect(empty.stdout).toBe('069633ab8e053d4fd8a7480fa7489890f4fdb3fbaac3d69a3b20ab7193be984c');
    const zeros = await runBin(['sign', '--secret', '0'.repeat(32)], { input: '' });
    expect(zeros.stdout).toBe('be1c11432b34199a33133b25f7e6e3aae5270a48d213baf560f825f52d026351');
  });

  it('takes the secret from WEBHOOK_SECRET, then from .env in the current folder', async () => {
    const body = file('body.json', '{}');
    const fromEnv = await runBin(['sign', body], { env: { WEBHOOK_SECRET: 'qwertyuiop' } });
    expect(fromEnv.stdout).toBe('19fb4b920450909175ffc138528c95a39d278020a673e7314f03475719414bc6');
    file('.env', 'WEBHOOK_SECRET=qwertyuiop\n');
    const fromDotEnv = await runBin(['sign', 'body.json'], { cwd: tmp });
    expect(fromDotEnv.stdout).toBe('19fb4b920450909175ffc138528c95a39d278020a673e7314f03475719414bc6');
    rmSync(join(tmp, '.env'));
  });

  it('without a secret, or with a missing file, exits 2 with a hint', async () => {
    const noSecret = await runBin(['sign', file('x.json', '{}')], { cwd: tmp });
    expect(noSecret.exitCode).toBe(2);
    expect(noSecret.stderr).toContain('Error: no webhook secret');
    expect(noSecret.stderr).toContain('Hint: Pass --secret');
    const missing = await runBin(['sign', join(tmp, 'nope.json'), '--secret', 's']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('nope.json: no such file');
    const folder = await runBin(['sign', tmp, '--secret', 's']);
    expect(folder.exitCode).toBe(2);
    expect(folder.stderr).toContain(`${tmp}: is a folder, not a file`);
  });
});

describe('polyswarm-engine check', () => {
  const meta = '{"malware_family":"","domains":[],"ip_addresses":[],"stix":[],"scanner":null,"heuristic":null}';

  it('exits 0 for a valid document and names the detected kind', async () => {
    const r = await runBin(['check', file('ok.json', `{"verdict":"benign","bid":62500000000000000,"metadata":${meta}}`)]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('is a valid assertion (detected)');
  });

  it('a document of no known kind: exit 1, and the CLI (not the protocol layer) says to use --as', async () => {
    const r = await runBin(['check', file('what.json', '{"hello":1}')]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('(document): cannot tell whether this is an assertion, vote, bounty or metadata document');
    expect(r.stdout).toContain('say which with --as assertion|vote|bounty|metadata');
  });

  it('exits 1 and prints each problem with its JSON path', async () => {
    const r = await runBin(['check', file('bad.json', '{"verdict":"MALICIOUS","bid":1e+21,"metadata":{}}')]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('is not a valid assertion (detected): 3 problems');
    expect(r.stdout).toContain('/bid: must be a JSON integer written as digits, got 1e+21');
    expect(r.stdout).toContain('(verdicts are lowercase)');
    expect(r.stdout).toContain('/metadata/malware_family: is required');
  });

  it('--as overrides detection; --json prints one machine-readable object', async () => {
    const r = await runBin(['check', '--as', 'vote', '--json'], { input: `{"verdict":"benign","bid":0,"metadata":${meta}}` });
    expect(r.exitCode).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ file: 'stdin', kind: 'vote', detected: false, valid: false });
    expect(out.errors).toEqual([{ path: '/bid', message: 'must not be present: a Vote (arbitration) carries no bid' }]);
  });

  it('exits 2 for a document that is not JSON, a missing file, or an unknown --as', async () => {
    const notJson = await runBin(['check', file('nope.txt', 'hello')]);
    expect(notJson.exitCode).toBe(2);
    expect(notJson.stderr).toContain('not valid JSON');
    const missing = await runBin(['check', join(tmp, 'missing.json')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('missing.json: no such file');
    const badKind = await runBin(['check', '--as', 'answer', file('k.json', '{}')]);
    expect(badKind.exitCode).toBe(2);
    expect(badKind.stderr).toContain("argument 'answer' is invalid. Allowed choices are assertion, vote, bounty, metadata");
  });
});
