import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from '../helpers/bin.js';
import { eicarScan, openFixture, openOwn, type Running } from '../helpers/engines.js';
import { inLanes } from '../helpers/lanes.js';

const SECRET = 'qwertyuiop';
const tmp = mkdtempSync(join(tmpdir(), 'pse-test-failures-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `test all` against an engine (closed after): the exit code, the failing cases' names, and their messages by name. */
async function all(open: () => Promise<Running>) {
  const engine = await open();
  const r = await runBin(['test', 'all', '--url', engine.url, '--secret', SECRET, '--expiration', '8s'], {
    cwd: tmp,
    timeout: 90_000,
  }).finally(() => engine.close());
  const failed = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of String(r.stdout).split('\n')) {
    const head = /^([✓✗]) (.+?) \(\d+(?:ms|\.\d+s)\)(?: → .*)?$/.exec(line);
    if (head) {
      current = head[1] === '✗' ? [] : null;
      if (current) failed.set(head[2], current);
    } else if (current && line.startsWith('    ') && !line.startsWith('    warning')) current.push(line.trim());
  }
  return { ...r, failed };
}

/**
 * One `test all` per engine, all started before the first test, two at a time (each mostly waits on expirations and
 * the hang case; the simulator runs in its own process), each read by one test below.
 */
let runs: Record<
  'own' | 'silentOnFetchError' | 'maliciousOnFetchError' | 'nonAscii500' | 'timerOverflow' | 'hashBlind' | 'oneCause',
  ReturnType<typeof all>
>;
beforeAll(() => {
  runs = inLanes(2, {
    own: () => all(() => openOwn(SECRET)),
    silentOnFetchError: () => all(() => openFixture(SECRET, { silentOnFetchError: true })),
    maliciousOnFetchError: () => all(() => openFixture(SECRET, { maliciousOnFetchError: true })),
    nonAscii500: () => all(() => openFixture(SECRET, { nonAscii500: true })),
    timerOverflow: () => all(() => openFixture(SECRET, { timerOverflow: true })),
    hashBlind: () => all(() => openFixture(SECRET, { hashBlind: true })),
    oneCause: () => all(openFailingEverywhere),
  });
});

/** What ClamAV without signatures answers every scan: the same error, whatever the file. */
const CLAMAV = "cli_loaddbdir: No supported database files found in /var/lib/clamav; Can't open file or directory";

/** The project's own engine with a scan that fails every file the same way (URL artifacts still answer). */
const openFailingEverywhere = () =>
  openOwn(SECRET, {
    async scan(bounty, ctx) {
      if (bounty.artifact_type === 'url') return eicarScan.scan(bounty, ctx);
      await bounty.fetchArtifact();
      throw new Error(CLAMAV);
    },
  });

const CANNOT_FETCH = [
  'artifact host answers 404 → one unknown answer, bid 0',
  'artifact host answers 500 → one unknown answer, bid 0',
  'artifact host resets the connection → one unknown answer, bid 0',
];

describe('test all: the failure paths, each failed by a fixture engine with its message (exit 1)', () => {
  it("the project's own engine passes every failure-path case", async () => {
    const r = await runs.own;
    expect([...r.failed.keys()], r.stdout).toEqual([]);
    expect(r.stdout).toMatch(/\n✓ artifact host never answers → one unknown answer, bid 0 \(/);
    expect(r.stdout).toMatch(/\n✓ bounty: 20 at once → each answered exactly once \(/);
    expect(r.stdout).toMatch(/\n✓ bounty: body at the size limit → accepted; over it → 413 \(/);
    expect(r.exitCode).toBe(0);
  });

  it('an engine that never answers when the download fails', async () => {
    const r = await runs.silentOnFetchError;
    expect(r.exitCode).toBe(1);
    expect([...r.failed.keys()]).toEqual(CANNOT_FETCH);
    expect(r.failed.get(CANNOT_FETCH[0])).toEqual([
      expect.stringMatching(
        /^no answer arrived at response_url before the bounty's expiration \(.+\), nor shortly after; an engine must answer every unexpired bounty, with unknown and bid 0 if it cannot scan it.*? \(the artifact host answers 404; an engine that cannot fetch the file must still answer before the expiration, exactly once, with verdict unknown and bid 0 \(e\.g\. metadata\.comments \["SKIPPED:CANNOT-FETCH"\]\): catch the download error instead of dropping the bounty or guessing a verdict\)$/,
      ),
    ]);
    expect(r.failed.get(CANNOT_FETCH[2])![0]).toContain('(the artifact host resets the connection;');
  });

  it('an engine that answers malicious to a file it could not fetch', async () => {
    const r = await runs.maliciousOnFetchError;
    expect(r.exitCode).toBe(1);
    expect([...r.failed.keys()]).toEqual(CANNOT_FETCH);
    for (const name of CANNOT_FETCH)
      expect(r.failed.get(name)![0]).toMatch(
        /^expected verdict unknown, got malicious \(the artifact host (answers 404|answers 500|resets the connection);/,
      );
  });

  it('a scanner that fails every scan the same way (ClamAV without signatures): the cause said once, no wrong diagnosis', async () => {
    const r = await runs.oneCause;
    expect(r.exitCode).toBe(1);
    const failed = r.failed.size;
    expect(failed).toBeGreaterThanOrEqual(9);
    // The long reason in full once on a case line, once in the summary; "(as above)" elsewhere.
    expect(r.stdout.split(`ERROR:${CLAMAV}`)).toHaveLength(3);
    expect(r.stdout).toContain(`\nAll ${failed} failures have one cause: the engine answered ERROR:${CLAMAV}\n`);
    expect(r.stdout).toContain('(its metadata.comments: ["ERROR:cli_loaddbdir: No suppor… (as above)"])');
    // The 2121 case and the concurrent one say what happened, not a timer overflow or a queueing problem.
    expect(r.failed.get('bounty: expiration in 2121 → a real verdict')).toEqual([
      'expected verdict malicious, got unknown (its metadata.comments: ["ERROR:cli_loaddbdir: No suppor… (as above)"])',
    ]);
    expect(r.failed.get('bounty: 20 at once → each answered exactly once')![0]).toBe(
      "20 of 20 bounties sent at once were answered unknown with the engine's scan error, as a single bounty is: not a concurrency problem",
    );
    expect(r.stdout).not.toMatch(/overflows|must queue/);
  });

  it('an engine that answers 500 to a non-ASCII signature header', async () => {
    const r = await runs.nonAscii500;
    expect(r.exitCode).toBe(1);
    expect([...r.failed.keys()]).toEqual(['security: non-ASCII signature header → 4xx, still serving']);
    expect(r.failed.get('security: non-ASCII signature header → 4xx, still serving')).toEqual([
      'the engine answered 500 to a signature header with non-ASCII bytes: {"error":"internal error"}; a signature header that is not 64 hex digits is the sender\'s error: answer 401 {"X-POLYSWARM-SIGNATURE": "Signature does not match body"} (the Python reference answers a non-ASCII signature with a 500: hmac.compare_digest raises TypeError on a non-ASCII str; compare bytes, or check the header is hex first)',
    ]);
  });

  it('an engine whose scan deadline overflows for a 2121 expiration', async () => {
    const r = await runs.timerOverflow;
    expect(r.exitCode).toBe(1);
    expect([...r.failed.keys()]).toEqual(['bounty: expiration in 2121 → a real verdict']);
    expect(r.failed.get('bounty: expiration in 2121 → a real verdict')![0]).toMatch(
      /^expected verdict malicious, got unknown \(its metadata.comments: \["SKIPPED:TIMEOUT"\]\) \(the bounty expires in 2121, as in the Python reference's own test fixture; a deadline armed with setTimeout\(expiration − now\) overflows past 2\^31−1 ms \(24\.8 days\) and fires at once/,
    );
  });

  it('the hash-mismatch case warns, with the reason, when an engine scans bytes that are not the ones sha256 names', async () => {
    const r = await runs.hashBlind;
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(
      "    warning: the engine answered malicious for a file whose bytes do not match the bounty's sha256: it scanned another file than the one PolySwarm asked about",
    );
  });
});
