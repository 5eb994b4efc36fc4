/**
 * `test load` end to end: the built bin against the project's own engine and against fixture engines that lose
 * or repeat answers, on loopback. No timing is asserted: only what was counted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBin } from '../helpers/bin.js';
import { useEngines } from '../helpers/engines.js';

const SECRET = 'qwertyuiop';
const tmp = mkdtempSync(join(tmpdir(), 'pse-test-load-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const engines = useEngines(SECRET);

const load = (args: string[]) => runBin(['test', 'load', ...args, '--secret', SECRET], { cwd: tmp, timeout: 60_000 });

interface LoadDoc {
  load: {
    ok: boolean;
    sent: number;
    acknowledged: number;
    answered: number;
    lost: number;
    answeredTwice: number;
    answeredLate: number;
    status4xx: number;
    ack: { count: number; p99: number };
    answer: { count: number };
    answerBins: { count: number }[];
  };
}

describe('test load (built bin)', () => {
  it("--rate for 10s against the project's own engine: the table, the histogram, exit 0", async () => {
    const url = await engines.own();
    const r = await load(['--url', url, '--rate', '20', '--duration', '10s']);
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stderr).toMatch(/^Load testing http:\/\/127\.0\.0\.1:\d+\/ \(secret from --secret\)\n/);
    // Not a terminal: a progress line every five ticks (a loaded machine may deliver the 5th tick late).
    expect(r.stderr).toMatch(/\n\d+s {2}sent \d+ {2}acknowledged \d+ {2}answered \d+ {2}lost 0 {2}p99 (\S+)/);
    expect(r.stdout).toMatch(
      /^load 20\/s for \d+\.\ds \(\d+\.\ds with the last answers\): sent 200, acknowledged 200, answered 200 \(\d+\.\d\/s\)$/m,
    );
    expect(r.stdout).toMatch(/^ +p50 +p95 +p99 +max$/m);
    expect(r.stdout).toMatch(/^acknowledgement latency( +\d+(\.\d+)?(µs|ms|s)){4}$/m);
    expect(r.stdout).toMatch(/^answer latency \(202 → answer\)( +\d+(\.\d+)?(µs|ms|s)){4}$/m);
    for (const row of [
      '4xx',
      '5xx \\(not 503\\)',
      '503 \\(queue full\\)',
      'no HTTP answer',
      'answers lost',
      'answered twice',
      'answered after expiration',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^${row} +0$`, 'm'));
    }
    const bars = String(r.stdout).match(/^ *\d+(\.\d+)?(µs|ms|s) – +\d+(\.\d+)?(µs|ms|s) │\S* (\d+)$/gm)!;
    expect(bars.length).toBeGreaterThan(0);
    expect(bars.reduce((sum, line) => sum + Number(/ (\d+)$/.exec(line)![1]), 0)).toBe(200);
    expect(r.stdout).toMatch(/\n✓ every accepted bounty answered exactly once$/);
  });

  it('--duration 5s and no load flag: 10 bounties in flight, said in the header, exit 0', async () => {
    const r = await load(['--url', await engines.own(), '--duration', '5s']);
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stderr).toMatch(
      /^Load testing http:\/\/127\.0\.0\.1:\d+\/ \(secret from --secret\), 10 bounties in flight \(the default; --rate N or --concurrency N to choose\)\n/,
    );
    expect(r.stdout).toMatch(/^load 10 in flight for \d+\.\ds /m);
    expect(r.stdout).toMatch(/\n✓ every accepted bounty answered exactly once$/);
  });

  it('against an engine that drops one answer in fifty: counts them, exit 1 (--json)', async () => {
    const r = await load([
      '--url',
      await engines.fixture({ dropEvery: 50 }),
      '--rate',
      '40',
      '--duration',
      '3s',
      '--expiration',
      '5s',
      '--json',
    ]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout) as LoadDoc;
    expect(doc.load).toMatchObject({ ok: false, sent: 120, acknowledged: 120, answered: 118, lost: 2, answeredTwice: 0 });
    expect(doc.load.ack.count).toBe(120);
    expect(doc.load.answerBins.reduce((sum, b) => sum + b.count, 0)).toBe(118);
  });

  it('the text report says what was lost', async () => {
    const r = await load([
      '--url',
      await engines.fixture({ dropEvery: 50 }),
      '--concurrency',
      '4',
      '--duration',
      '2s',
      '--expiration',
      '5s',
    ]);
    expect(r.exitCode).toBe(1);
    const lost = Number(/^answers lost +(\d+)$/m.exec(r.stdout)![1]);
    const acknowledged = Number(/acknowledged (\d+), answered/.exec(r.stdout)![1]);
    expect(lost).toBe(Math.floor(acknowledged / 50));
    if (lost > 0)
      expect(r.stdout).toContain(
        `${lost} accepted bount${lost === 1 ? 'y was' : 'ies were'} never answered: every accepted bounty must get exactly one answer before its expiration`,
      );
  });

  it('against an engine that answers twice: exit 1', async () => {
    const r = await load(['--url', await engines.fixture({ twice: true }), '--rate', '10', '--duration', '1s', '--json']);
    expect(r.exitCode).toBe(1);
    expect((JSON.parse(r.stdout) as LoadDoc).load).toMatchObject({ ok: false, sent: 10, answered: 10, answeredTwice: 10, lost: 0 });
  });

  it('a wrong secret: nothing acknowledged, the 4xx counted, exit 1', async () => {
    const r = await runBin(['test', 'load', '--url', await engines.fixture(), '--secret', 'another', '--rate', '5', '--duration', '1s'], {
      cwd: tmp,
    });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/^4xx +5$/m);
    expect(r.stdout).toContain('no bounty was acknowledged with a 2xx; see the status counts (a 401 means another secret)');
  });

  it('usage errors (exit 2)', async () => {
    const url = await engines.fixture();
    const cases: [string[], string][] = [
      [['--rate', '5', '--concurrency', '2'], 'Error: choose --rate or --concurrency, not both'],
      [['--rate', '0'], "error: option '--rate <n>' argument '0' is invalid. --rate must be between 1 and 100000."],
      [['--rate', '5', '--artifact', 'missing.bin'], `Error: --artifact ${join(tmp, 'missing.bin')}: no such file`],
      [['--rate', '5', '--duration', 'soon'], "error: option '--duration <duration>' argument 'soon' is invalid."],
    ];
    for (const [args, message] of cases) {
      const r = await load([...args, '--url', url]);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(message);
    }
  });
});
