import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, runBin } from '../helpers/bin.js';

const SECRET = 'zero-setup-secret';
const tmp = mkdtempSync(join(tmpdir(), 'pse-test-zero-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let serving: ResultPromise[] = [];
afterEach(async () => {
  for (const child of serving) child.kill('SIGTERM');
  await Promise.allSettled(serving);
  serving = [];
});

/** A minimal engine project: the EICAR scan in plain JS, the secret in .env, this checkout as its dependency. */
function project(name: string, scan: string): string {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'src'), { recursive: true });
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(ROOT, join(dir, 'node_modules', 'polyswarm-engine'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  writeFileSync(join(dir, '.env'), `WEBHOOK_SECRET=${SECRET}\n`);
  writeFileSync(join(dir, 'src', 'scan.mjs'), scan);
  return dir;
}

const EICAR_SCAN = `
const EICAR = ['X5O!P%@AP[4\\\\PZX54(P^)7CC)7}$', 'EICAR-STANDARD-ANTIVIRUS', '-TEST-FILE!$H+H*'].join('');
export async function scan(bounty) {
  if (bounty.artifact_type === 'url') return { verdict: 'unknown' };
  const bytes = await bounty.fetchArtifact();
  return bytes.toString('latin1').includes(EICAR) ? { verdict: 'malicious', metadata: { malware_family: 'EICAR-Test-File' } } : { verdict: 'benign' };
}
`;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('polyswarm-engine test: zero setup inside an engine project', () => {
  it("with no serve running, boots the project's engine on a free loopback port, passes everything, and stops it", async () => {
    const dir = project('own-engine', EICAR_SCAN);
    const r = await runBin(['test', 'all', '--expiration', '6s'], { cwd: dir, timeout: 60_000 });
    const booted =
      /^Testing (http:\/\/127\.0\.0\.1:\d+\/) \((.+)'s engine, booted for this run, pid (\d+)\) \(secret from WEBHOOK_SECRET in (.+)\)$/m.exec(
        String(r.stderr),
      );
    expect(booted, String(r.stderr)).not.toBeNull();
    expect(booted![2]).toBe(dir);
    expect(String(r.stdout).split('\n').at(-1), String(r.stdout)).toBe('28 passed, 0 failed');
    expect(r.exitCode).toBe(0);
    // Stopped afterwards, and its state file removed.
    expect(pidAlive(Number(booted![3]))).toBe(false);
    expect(existsSync(join(dir, '.polyswarm', 'serve.json'))).toBe(false);
  });

  it('with a serve of the project running, uses the URL it recorded', async () => {
    const dir = project('served-engine', EICAR_SCAN);
    const child = execa('node', [BIN, 'serve', '--port', '0', '--no-watch'], { cwd: dir, reject: false, env: { NO_COLOR: '1', CI: '1' } });
    serving.push(child);
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('serve did not report ready within 20 s')), 20_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        const match = /\bready\b.*?url[=":]+"?(https?:\/\/[^\s"]+)/.exec(chunk.toString());
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
    });
    expect(existsSync(join(dir, '.polyswarm', 'serve.json'))).toBe(true);
    const r = await runBin(['test', 'bounty', '--expiration', '6s'], { cwd: dir });
    expect(r.stderr).toBe(
      `Testing ${url} (the running \`serve\` of ${dir}, pid ${child.pid}) (secret from WEBHOOK_SECRET in ${join(dir, '.env')})`,
    );
    expect(r.stdout).toMatch(/^✓ bounty: EICAR \(/);
    expect(r.exitCode).toBe(0);
  });

  it("a project whose engine cannot start: serve's own usage error (exit 2) with its output", async () => {
    const dir = project('broken-engine', 'export const notScan = 1;\n');
    const r = await runBin(['test', 'ping'], { cwd: dir, timeout: 60_000 });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(
      "Error: could not start the project's engine: `polyswarm-engine serve` exited with code 2 before it was ready",
    );
    expect(r.stderr).toContain('Hint: its last output:');
  });

  it('test bounty --file that cannot be read is a usage error before any engine is booted', async () => {
    // This project's engine cannot start: had the engine been booted first, the error would be about that.
    const dir = project('file-check', 'export const notScan = 1;\n');
    const r = await runBin(['test', 'bounty', '--file', '/nope/sample.exe'], { cwd: dir, timeout: 60_000 });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe('Error: --file /nope/sample.exe: no such file');
    expect(r.stdout).toBe('');
  });
});
