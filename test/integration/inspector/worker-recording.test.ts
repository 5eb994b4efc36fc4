/**
 * `worker --record`: a worker's lines (a bounty taken from the shared queue, then its answer) and how `test replay`
 * reads them beside the web process's recording. The tracker is driven with observer events as the worker sends them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AnswerEvent } from '../../../src/engine/observer.js';
import { readRecording } from '../../../src/simulator/replay.js';
import { TransactionTracker } from '../../../src/inspector/transaction.js';
import type { Transaction } from '../../../src/simulator/recording.js';

const dir = mkdtempSync(join(tmpdir(), 'pse-worker-recording-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bountyBody = (id: string, expiresInMs: number) =>
  Buffer.from(
    JSON.stringify({
      id,
      artifact_type: 'file',
      artifact_uri: 'https://artifacts.example/x',
      sha256: 'a'.repeat(64),
      expiration: new Date(Date.now() + expiresInMs).toISOString(),
      phase: 'assertion',
      response_url: 'https://polyswarm.example/answers/1',
      rules: { max_allowed_bid: 1, min_allowed_bid: 0 },
    }),
  );

const answer = (bounty: string, verdict: 'malicious' | 'benign'): AnswerEvent => ({
  bounty,
  key: `${bounty}:assertion`,
  kind: 'assertion',
  verdict,
  bid: 1n,
  artifactType: 'file',
  comments: [],
  scanMs: 5,
  queueWaitMs: 2,
  delivered: true,
  status: 200,
  attempts: 1,
  body: `{"verdict":"${verdict}","bid":1}`,
});

function tracker() {
  const done: Transaction[] = [];
  return { done, t: new TransactionTracker({ maxBodyBytes: 1 << 20, onComplete: (tx) => done.push(tx) }) };
}

describe('a worker’s transaction', () => {
  it('opens at the job, as the queue held it, and is complete with its answer', () => {
    const { done, t } = tracker();
    t.onJob({ bounty: '11', key: '11:assertion', delivery: 'd-1', receivedAt: Date.now() - 50, body: bountyBody('11', 30_000) });
    expect(done).toEqual([]);
    t.onAnswer(answer('11', 'malicious'));
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({
      source: 'queue',
      event: 'bounty',
      delivery: 'd-1',
      bounty: '11',
      key: '11:assertion',
      response: { status: 202, ackMs: null },
      request: { headers: {}, encoding: 'utf8' },
      answer: { verdict: 'malicious', bid: '1', delivered: true },
      scan: { ms: 5, queueWaitMs: 2 },
    });
  });

  it('a job already expired is complete at once; a job taken again completes the earlier attempt', () => {
    const { done, t } = tracker();
    t.onJob({ bounty: '12', key: '12:assertion', delivery: null, receivedAt: Date.now(), body: bountyBody('12', -1000) });
    expect(done.map((tx) => tx.bounty)).toEqual(['12']);
    t.onJob({ bounty: '13', key: '13:assertion', delivery: null, receivedAt: Date.now(), body: bountyBody('13', 30_000) });
    t.onJob({ bounty: '13', key: '13:assertion', delivery: null, receivedAt: Date.now(), body: bountyBody('13', 30_000) });
    expect(done.map((tx) => [tx.bounty, tx.answer?.verdict ?? null])).toEqual([
      ['12', null],
      ['13', null],
    ]);
    t.onAnswer(answer('13', 'benign'));
    expect(done.map((tx) => [tx.bounty, tx.answer?.verdict ?? null])).toEqual([
      ['12', null],
      ['13', null],
      ['13', 'benign'],
    ]);
  });
});

describe('readRecording with a web process’s and a worker’s files', () => {
  const line = (tx: Partial<Transaction>) => `${JSON.stringify(tx)}\n`;
  const web = (bounty: string) =>
    line({
      id: `w-${bounty}`,
      source: 'engine',
      event: 'bounty',
      bounty,
      key: `${bounty}:assertion`,
      request: { headers: { 'x-polyswarm-signature': 'ab' }, body: '{}', encoding: 'utf8', bytes: 2 },
      response: { status: 202, ackMs: 1 },
    });
  const worker = (bounty: string, verdict?: string, delivered = true) =>
    line({
      id: `q-${bounty}-${verdict ?? 'none'}${delivered ? '' : '-refused'}`,
      source: 'queue',
      event: 'bounty',
      bounty,
      key: `${bounty}:assertion`,
      request: { headers: {}, body: '{}', encoding: 'utf8', bytes: 2 },
      response: { status: 202, ackMs: null },
      ...(verdict
        ? {
            answer: {
              kind: 'assertion',
              verdict,
              bid: '1',
              comments: [],
              delivered,
              status: delivered ? 200 : null,
              attempts: delivered ? 1 : 0,
              body: '',
              schemaOk: true,
              marginMs: 1,
            },
          }
        : {}),
    });

  it('gives each delivery the answer of its worker line; a worker line alone is listed once, by its answered attempt', () => {
    writeFileSync(join(dir, 'web.jsonl'), web('1') + web('2'));
    // Bounty 3 was handed back at a worker's stop (its SKIPPED:SHUTDOWN answer refused), then answered by another
    // worker; bounty 2's first attempt was handed back too.
    writeFileSync(
      join(dir, 'worker.jsonl'),
      worker('2', 'unknown', false) +
        worker('2', 'benign') +
        worker('1', 'malicious') +
        worker('3', 'unknown', false) +
        worker('3', 'malicious'),
    );
    const list = readRecording([join(dir, 'web.jsonl'), join(dir, 'worker.jsonl')]);
    expect(list.map((tx) => [tx.id, tx.answer?.verdict ?? null])).toEqual([
      ['w-1', 'malicious'],
      ['w-2', 'benign'],
      ['q-3-malicious', 'malicious'],
    ]);
  });

  it('a recording among several that cannot be read is a usage error naming it', () => {
    const missing = join(dir, 'worker-2.jsonl');
    expect(() => readRecording([join(dir, 'web.jsonl'), missing])).toThrow(new RegExp(`^cannot read ${missing}: ENOENT`));
  });

  it('without the worker’s file, the deliveries have no answer', () => {
    expect(readRecording(join(dir, 'web.jsonl')).map((tx) => tx.answer ?? null)).toEqual([null, null]);
  });
});
