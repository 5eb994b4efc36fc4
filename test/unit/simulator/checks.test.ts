import { describe, expect, it } from 'vitest';
import { checkAnswers, type AnswerExpectation } from '../../../src/simulator/checks.js';
import type { ReceivedAnswer } from '../../../src/simulator/host.js';

const META = '{"malware_family":"EICAR-Test-File","domains":[],"ip_addresses":[],"stix":[],"scanner":null,"heuristic":null}';
const now = Date.now();
const expectation: AnswerExpectation = {
  kind: 'assertion',
  verdict: 'malicious',
  rules: { min_allowed_bid: 62500000000000000n, max_allowed_bid: 1000000000000000000n },
  expiration: now + 10_000,
};
const received = (text: string, at = now, contentType = 'application/json'): ReceivedAnswer => ({
  at,
  bytes: Buffer.from(text),
  contentType,
});
const check = (texts: string[], expect: Partial<AnswerExpectation> = {}) =>
  checkAnswers(
    texts.map((t) => received(t)),
    { ...expectation, ...expect },
    10_000,
  );

describe('checkAnswers', () => {
  it('passes a valid assertion and returns it parsed, bid as a bigint', () => {
    const out = check([`{"verdict":"malicious","bid":1000000000000000000,"metadata":${META}}`]);
    expect(out.messages).toEqual([]);
    expect(out.warnings).toEqual([]);
    expect(out.answer).toEqual({ verdict: 'malicious', bid: 1000000000000000000n, metadata: expect.any(Object) });
  });

  it('catches a float bid and an exponent bid from the raw text', () => {
    expect(check([`{"verdict":"malicious","bid":1000000000000000000.0,"metadata":${META}}`]).messages).toEqual([
      'assertion /bid: must be a JSON integer written as digits, got 1000000000000000000.0 (PolySwarm rejects a float bid with 400)',
    ]);
    expect(check([`{"verdict":"malicious","bid":1e+21,"metadata":${META}}`], { rules: { max_allowed_bid: 10n ** 22n } }).messages).toEqual([
      'assertion /bid: must be a JSON integer written as digits, got 1e+21 (PolySwarm rejects a float bid with 400)',
    ]);
  });

  it('catches an uppercase verdict and a metadata without malware_family', () => {
    const out = check(['{"verdict":"MALICIOUS","bid":1000000000000000000,"metadata":{"domains":[]}}']);
    expect(out.messages).toContain(
      'assertion /verdict: must be one of "benign", "malicious", "suspicious", "unknown", got "MALICIOUS" (verdicts are lowercase)',
    );
    expect(out.messages).toContain('assertion /metadata/malware_family: is required');
  });

  it('wants the expected verdict and a bid within the rules', () => {
    expect(check([`{"verdict":"benign","bid":1000000000000000000,"metadata":${META}}`]).messages).toEqual([
      'expected verdict malicious, got benign',
    ]);
    expect(check([`{"verdict":"malicious","bid":1000000000000000001,"metadata":${META}}`]).messages).toEqual([
      "bid 1000000000000000001 is outside the bounty's rules [62500000000000000, 1000000000000000000]",
    ]);
    expect(check([`{"verdict":"malicious","bid":5,"metadata":${META}}`]).messages[0]).toMatch(/^bid 5 is outside/);
  });

  it('wants bid 0 for unknown and suspicious, whatever is expected', () => {
    expect(check([`{"verdict":"unknown","bid":62500000000000000,"metadata":${META}}`], { verdict: 'any' }).messages).toEqual([
      'bid must be 0 for a unknown verdict, got 62500000000000000 (unknown and suspicious are informational)',
    ]);
    expect(check([`{"verdict":"suspicious","bid":0,"metadata":${META}}`], { verdict: 'any' }).messages).toEqual([]);
  });

  it('wants a Vote in arbitration and explains the reference engine bug when it gets an Assertion', () => {
    expect(check([`{"verdict":"malicious","metadata":${META}}`], { kind: 'vote' }).messages).toEqual([]);
    const out = check([`{"verdict":"malicious","bid":1000000000000000000,"metadata":${META}}`], { kind: 'vote' });
    expect(out.messages).toHaveLength(1);
    expect(out.messages[0]).toMatch(
      /^expected a Vote \(verdict and metadata, no bid\) for an arbitration bounty, got an Assertion with a bid\. The Python reference engine has this known bug/,
    );
  });

  it('explains an egress refusal: SKIPPED:EGRESS-REFUSED, and a missing answer, point at start --egress any', () => {
    const refused = `{"verdict":"unknown","bid":0,"metadata":{"malware_family":"","domains":[],"ip_addresses":[],"stix":[],"scanner":{},"heuristic":false,"comments":["SKIPPED:EGRESS-REFUSED"]}}`;
    const out = check([refused], { verdict: 'any' });
    expect(out.messages).toContainEqual(
      expect.stringMatching(
        /^the engine's egress policy refused to download the artifact \(SKIPPED:EGRESS-REFUSED\): .*run `start --egress any`/,
      ),
    );
    expect(checkAnswers([], expectation, 3000).messages[0]).toMatch(
      /If the engine logged that its egress policy refused the answer URL: .*--egress public.*`start --egress any`/,
    );
  });

  it('wants exactly one answer, on time, as JSON', () => {
    const ok = `{"verdict":"malicious","bid":1000000000000000000,"metadata":${META}}`;
    expect(checkAnswers([received(ok), received(ok, now + 40)], expectation, 10_000).messages).toEqual([
      'expected exactly one answer, got 2 (the second 40 ms after the first)',
    ]);
    expect(checkAnswers([received(ok, expectation.expiration + 700)], expectation, 10_000).messages[0]).toMatch(
      /^the answer arrived 700 ms after the bounty's expiration/,
    );
    expect(checkAnswers([], expectation, 3000).messages[0]).toMatch(
      /^no answer arrived at response_url before the bounty's expiration \(3\.0s after it was sent\)/,
    );
    expect(check(['verdict=malicious']).messages[0]).toMatch(/^the answer is not JSON \(not valid JSON: .*\): verdict=malicious$/);
    expect(checkAnswers([received(ok, now, 'text/plain')], expectation, 10_000).warnings).toEqual([
      'the answer was posted with Content-Type "text/plain"; PolySwarm expects application/json',
    ]);
  });
});
