import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../../src/engine/engine.js';
import { combineObservers, type AnswerEvent, type DeliveryEvent, type ScanErrorEvent } from '../../../src/engine/observer.js';
import { bountyBody, startLoopback, webhook, type Loopback } from '../../helpers/loopback.js';
import { until } from '../../helpers/poll.js';

let lb: Loopback;
let engine: Engine | undefined;
beforeEach(async () => {
  lb = await startLoopback();
  lb.receiver('/answer');
  lb.artifact('/artifact', 'harmless');
});
afterEach(async () => {
  await engine?.close({ graceMs: 0 });
  engine = undefined;
  await lb.close();
});

function recorder(wantsBodies = false) {
  const deliveries: DeliveryEvent[] = [];
  const answers: AnswerEvent[] = [];
  const scanErrors: ScanErrorEvent[] = [];
  return {
    deliveries,
    answers,
    scanErrors,
    observer: {
      wantsBodies,
      onDelivery: (e: DeliveryEvent) => deliveries.push(e),
      onAnswer: (e: AnswerEvent) => answers.push(e),
      onScanError: (e: ScanErrorEvent) => scanErrors.push(e),
    },
  };
}

describe('engine observer', () => {
  it('sees every request with its status and reason, every answer with its verdict and timings, every failed scan', async () => {
    const rec = recorder(true);
    engine = createEngine({
      secret: 'qwertyuiop',
      concurrency: 1,
      observer: rec.observer,
      module: { scan: async (b) => (b.id === '2' ? Promise.reject(new Error('boom')) : { verdict: 'malicious' }) },
    });
    const { url } = await engine.listen({ port: 0 });
    const send = async (w: ReturnType<typeof webhook>) => (await fetch(url, { method: 'POST', headers: w.headers, body: w.body })).status;
    const body = (id: number) =>
      bountyBody({
        id,
        response_url: `${lb.origin}/answer`,
        artifact_uri: `${lb.origin}/artifact`,
        expiration: new Date(Date.now() + 10_000).toISOString(),
      });

    expect(await send(webhook('', { event: 'ping' }))).toBe(200);
    expect(await send(webhook(body(1), { secret: 'wrong' }))).toBe(401);
    const sent = body(1);
    expect(await send(webhook(sent))).toBe(202);
    expect(await send(webhook(body(2)))).toBe(202);
    await until(() => rec.answers.length === 2, 'two answers');

    expect(rec.deliveries.map((d) => [d.event, d.status])).toEqual([
      ['ping', 200],
      ['bounty', 401],
      ['bounty', 202],
      ['bounty', 202],
    ]);
    expect(rec.deliveries[1]!.reason).toMatch(/signature/i);
    expect(rec.deliveries[2]).toMatchObject({ bounty: '1', reason: undefined });
    expect(rec.deliveries[2]!.ackMs).toBeGreaterThan(0);
    expect(Buffer.from(rec.deliveries[2]!.body!).toString()).toBe(sent);
    expect(rec.deliveries[2]!.headers).toMatchObject({ 'x-polyswarm-event': 'bounty', 'content-type': 'application/json' });

    const [first, second] = [...rec.answers].sort((a, b) => a.bounty.localeCompare(b.bounty));
    expect(first).toMatchObject({
      bounty: '1',
      kind: 'assertion',
      verdict: 'malicious',
      artifactType: 'file',
      delivered: true,
      status: 200,
      attempts: 1,
      comments: [],
    });
    expect(first!.bid).toBeGreaterThan(0n);
    expect(JSON.parse(first!.body)).toMatchObject({ verdict: 'malicious' });
    expect(second).toMatchObject({ bounty: '2', verdict: 'unknown', bid: 0n, comments: ['ERROR:boom'] });
    expect(rec.scanErrors).toEqual([
      {
        bounty: '2',
        artifactType: 'file',
        kind: 'unprocessable',
        message: 'boom',
        at: expect.stringMatching(/observer\.test\.ts:\d+:\d+$/),
        stack: expect.stringContaining('Error: boom'),
      },
    ]);
  });

  it('without wantsBodies no body or headers are kept; a throwing observer changes nothing', async () => {
    const rec = recorder(false);
    const throwing = {
      onDelivery: () => {
        throw new Error('observer bug');
      },
      onAnswer: () => {
        throw new Error('observer bug');
      },
    };
    engine = createEngine({
      secret: 'qwertyuiop',
      observer: combineObservers([throwing, rec.observer]),
      module: { scan: () => ({ verdict: 'benign' }) },
    });
    const { url } = await engine.listen({ port: 0 });
    const w = webhook(
      bountyBody({
        id: 7,
        response_url: `${lb.origin}/answer`,
        artifact_uri: `${lb.origin}/artifact`,
        expiration: new Date(Date.now() + 10_000).toISOString(),
      }),
    );
    expect((await fetch(url, { method: 'POST', headers: w.headers, body: w.body })).status).toBe(202);
    await lb.waitForAnswers(1);
    await until(() => rec.answers.length === 1, 'the answer event');
    expect(rec.deliveries).toHaveLength(1);
    expect(rec.deliveries[0]!.body).toBeUndefined();
    expect(rec.deliveries[0]!.headers).toBeUndefined();
  });

  it('combineObservers has only the hooks its observers have (an engine builds no event nobody takes)', () => {
    const onAnswer = () => {};
    expect(Object.keys(combineObservers([]))).toEqual(['wantsBodies']);
    expect(Object.keys(combineObservers([undefined, { onAnswer }, { wantsBodies: true, onAnswer }])).sort()).toEqual([
      'onAnswer',
      'wantsBodies',
    ]);
    expect(combineObservers([{ wantsBodies: true, onDelivery: () => {} }]).wantsBodies).toBe(true);
  });
});
