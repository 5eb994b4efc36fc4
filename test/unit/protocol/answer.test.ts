import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildAnswer,
  errorComment,
  isVote,
  normalizeScanResult,
  serializeAnswer,
  SKIP,
  unknownResult,
} from '../../../src/protocol/answer.js';
import { parseBounty } from '../../../src/protocol/bounty.js';
import { buildScanMetadata } from '../../../src/protocol/metadata.js';
import type { Assertion, BountyData, FieldError, ParseResult, Vote } from '../../../src/protocol/types.js';

const ENV = { operating_system: 'Linux', architecture: 'x86_64' };
const DEFAULT_METADATA =
  '{"malware_family":"","domains":[],"ip_addresses":[],"stix":[],"scanner":{"version":null,"polyswarmclient_version":null,' +
  '"vendor_version":null,"signatures_version":null,"environment":{"operating_system":"Linux","architecture":"x86_64"}},"heuristic":null}';

function bounty(phase: string | null): BountyData {
  const result = parseBounty(
    {
      id: 1,
      artifact_type: 'file',
      artifact_uri: 'https://a.example/x',
      expiration: '2030-01-01T00:00:00Z',
      response_url: 'https://a.example/r',
      rules: {},
      phase,
    },
    { now: new Date('2029-01-01T00:00:00Z') },
  );
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.value;
}

function errors<T>(result: ParseResult<T>): FieldError[] {
  if (result.ok) throw new Error('expected errors');
  return result.errors;
}

describe('normalizeScanResult', () => {
  it('accepts each lowercase verdict, defaulting confidence to 1', () => {
    for (const verdict of ['benign', 'malicious', 'suspicious', 'unknown'] as const) {
      expect(normalizeScanResult({ verdict })).toEqual({ ok: true, value: { verdict, confidence: 1 }, warnings: [] });
    }
  });

  it('keeps confidence and copies metadata', () => {
    const metadata = { malware_family: 'EICAR', comments: ['x'], custom: { a: 1 } };
    const result = normalizeScanResult({ verdict: 'malicious', confidence: 0.25, metadata });
    expect(result).toEqual({ ok: true, value: { verdict: 'malicious', confidence: 0.25, metadata }, warnings: [] });
    if (result.ok) expect(result.value.metadata).not.toBe(metadata);
    expect(normalizeScanResult({ verdict: 'benign', metadata: null })).toMatchObject({ ok: true, value: { verdict: 'benign' } });
  });

  it('clamps confidence into [0, 1] with a warning', () => {
    expect(normalizeScanResult({ verdict: 'benign', confidence: 1.7 })).toEqual({
      ok: true,
      value: { verdict: 'benign', confidence: 1 },
      warnings: ['confidence 1.7 is outside [0, 1]; clamped to 1'],
    });
    expect(normalizeScanResult({ verdict: 'benign', confidence: -2 })).toMatchObject({ ok: true, value: { confidence: 0 } });
  });

  it('rejects a value that is not an object', () => {
    expect(errors(normalizeScanResult(undefined))).toEqual([{ path: '', message: 'must be an object with a verdict, got undefined' }]);
    expect(errors(normalizeScanResult('malicious'))).toEqual([{ path: '', message: 'must be an object with a verdict, got "malicious"' }]);
    expect(errors(normalizeScanResult([]))[0].message).toBe('must be an object with a verdict, got array');
  });

  it('rejects a missing or unknown verdict, and says verdicts are lowercase', () => {
    expect(errors(normalizeScanResult({}))).toEqual([{ path: '/verdict', message: 'is required' }]);
    expect(errors(normalizeScanResult({ verdict: 'MALICIOUS' }))).toEqual([
      { path: '/verdict', message: 'verdicts are lowercase: use "malicious", got "MALICIOUS"' },
    ]);
    expect(errors(normalizeScanResult({ verdict: 'Benign' }))[0].message).toMatch(/lowercase/);
    expect(errors(normalizeScanResult({ verdict: 'evil' }))).toEqual([
      { path: '/verdict', message: 'must be one of "benign", "malicious", "suspicious", "unknown", got "evil"' },
    ]);
    expect(errors(normalizeScanResult({ verdict: 1 }))[0].message).toMatch(/got 1$/);
  });

  it('rejects a confidence that is not a finite number', () => {
    for (const [confidence, shown] of [
      ['0.9', '"0.9"'],
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, 'Infinity'],
      [null, 'null'],
      [1n, '1'],
    ] as const) {
      expect(errors(normalizeScanResult({ verdict: 'benign', confidence }))).toEqual([
        { path: '/confidence', message: `must be a finite number between 0 and 1, got ${shown}` },
      ]);
    }
  });

  it('rejects bad metadata and bad standard metadata keys, all at once', () => {
    expect(errors(normalizeScanResult({ verdict: 'benign', metadata: 'x' }))).toEqual([
      { path: '/metadata', message: 'must be an object, got "x"' },
    ]);
    expect(errors(normalizeScanResult({ verdict: 'benign', metadata: [] }))[0].message).toBe('must be an object, got array');
    expect(
      errors(
        normalizeScanResult({
          verdict: 'MALICIOUS',
          metadata: {
            malware_family: 5,
            domains: 'a.example',
            ip_addresses: [1],
            comments: [null],
            stix: {},
            scanner: 'x',
            heuristic: 'yes',
          },
        }),
      ),
    ).toEqual([
      { path: '/verdict', message: 'verdicts are lowercase: use "malicious", got "MALICIOUS"' },
      { path: '/metadata/malware_family', message: 'must be a string, got 5' },
      { path: '/metadata/domains', message: 'must be an array of strings, got "a.example"' },
      { path: '/metadata/ip_addresses', message: 'must be an array of strings, got an array with a non-string item' },
      { path: '/metadata/comments', message: 'must be an array of strings, got an array with a non-string item' },
      { path: '/metadata/stix', message: 'must be an array, got object' },
      { path: '/metadata/scanner', message: 'must be an object, got "x"' },
      { path: '/metadata/heuristic', message: 'must be a boolean, got "yes"' },
    ]);
  });

  it('warns about ignored keys such as a bid', () => {
    expect(normalizeScanResult({ verdict: 'benign', bid: 5n })).toMatchObject({
      ok: true,
      warnings: ['scan result key "bid" is ignored (only verdict, confidence, metadata are used)'],
    });
  });

  it('never throws on arbitrary values', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withNullPrototype: true }), (value) => {
        normalizeScanResult(value);
        normalizeScanResult({ verdict: 'benign', metadata: value, confidence: value });
      }),
      { numRuns: 500 },
    );
  });
});

describe('unknownResult, SKIP, errorComment', () => {
  it('builds the unknown result with its reason', () => {
    expect(unknownResult(SKIP.TIMEOUT)).toEqual({ verdict: 'unknown', confidence: 0, metadata: { comments: ['SKIPPED:TIMEOUT'] } });
  });

  it('names the skip reasons like psengine', () => {
    expect(SKIP).toEqual({
      CANNOT_FETCH: 'SKIPPED:CANNOT-FETCH',
      EGRESS_REFUSED: 'SKIPPED:EGRESS-REFUSED',
      TIMEOUT: 'SKIPPED:TIMEOUT',
      HASH_MISMATCH: 'SKIPPED:HASH-MISMATCH',
      TOO_LARGE: 'SKIPPED:TOO-LARGE',
      TYPE_UNSUPPORTED: 'SKIPPED:TYPE-UNSUPPORTED',
      SHUTDOWN: 'SKIPPED:SHUTDOWN',
    });
  });

  it('makes one short line out of an error message', () => {
    expect(errorComment('boom')).toBe('ERROR:boom');
    expect(errorComment('  line one\n\tline two \r\n')).toBe('ERROR:line one line two');
    const long = errorComment('x'.repeat(500));
    expect(long).toHaveLength(200);
    expect(long.endsWith('…')).toBe(true);
    expect(errorComment('y'.repeat(194))).toBe(`ERROR:${'y'.repeat(194)}`);
    expect(errorComment('y'.repeat(195))).toHaveLength(200);
    expect(errorComment('y'.repeat(195)).endsWith('…')).toBe(true);
  });
});

describe('buildAnswer / isVote', () => {
  it('answers an Assertion with the bid outside arbitration', () => {
    for (const phase of [null, 'assertion', 'assertion_window']) {
      const answer = buildAnswer(bounty(phase), { verdict: 'malicious', metadata: { malware_family: 'EICAR' } }, 7n, { environment: ENV });
      expect(answer).toEqual({
        verdict: 'malicious',
        bid: 7n,
        metadata: buildScanMetadata({ malware_family: 'EICAR' }, { environment: ENV }),
      });
      expect(isVote(answer)).toBe(false);
    }
  });

  it('answers a Vote without a bid in arbitration', () => {
    for (const phase of ['arbitration', 'VOTE']) {
      const answer = buildAnswer(bounty(phase), { verdict: 'benign' }, 7n, { environment: ENV });
      expect(answer).toEqual({ verdict: 'benign', metadata: buildScanMetadata(null, { environment: ENV }) });
      expect(answer).not.toHaveProperty('bid');
      expect(isVote(answer)).toBe(true);
    }
  });

  it('fills the host environment when none is given', () => {
    const answer = buildAnswer(bounty(null), unknownResult(SKIP.CANNOT_FETCH), 0n);
    expect(answer.metadata.scanner?.environment?.operating_system).toBeTruthy();
    expect(answer.metadata.comments).toEqual(['SKIPPED:CANNOT-FETCH']);
  });
});

describe('serializeAnswer', () => {
  const metadata = buildScanMetadata(null, { environment: ENV });

  it('writes verdict, bid, metadata in order, compact', () => {
    const answer: Assertion = { metadata, bid: 10n ** 18n, verdict: 'malicious' };
    expect(serializeAnswer(answer)).toBe(`{"verdict":"malicious","bid":1000000000000000000,"metadata":${DEFAULT_METADATA}}`);
  });

  it('writes 2^64 and 10^30 bids as exact digits', () => {
    for (const [bid, digits] of [
      [2n ** 64n, '18446744073709551616'],
      [10n ** 30n, '1000000000000000000000000000000'],
      [0n, '0'],
    ] as const) {
      const text = serializeAnswer({ verdict: 'malicious', bid, metadata });
      expect(text).toContain(`"bid":${digits},`);
      expect(text).not.toMatch(/"bid":[^,]*[.eE]/);
    }
  });

  it('gives a Vote no bid key at all', () => {
    const vote: Vote = { metadata, verdict: 'benign' };
    expect(serializeAnswer(vote)).toBe(`{"verdict":"benign","metadata":${DEFAULT_METADATA}}`);
    expect(JSON.parse(serializeAnswer(vote))).not.toHaveProperty('bid');
  });

  it('accepts a safe-integer number bid from untyped code and throws on a float', () => {
    const loose = (bid: unknown) => ({ verdict: 'malicious', bid, metadata }) as unknown as Assertion;
    expect(serializeAnswer(loose(5))).toContain('"bid":5,');
    expect(() => serializeAnswer(loose(1.5e21))).toThrow(new TypeError('bid must be an integer (bigint wei), got 1.5e+21'));
    expect(() => serializeAnswer(loose('5'))).toThrow(TypeError);
  });

  it('serialises extra metadata keys and bigints inside metadata', () => {
    const text = serializeAnswer({ verdict: 'unknown', bid: 0n, metadata: { ...metadata, comments: ['ERROR:x'], size: 2n ** 70n } });
    expect(text.endsWith(',"comments":["ERROR:x"],"size":1180591620717411303424}}')).toBe(true);
  });
});

describe('answers against the shipped JSON schemas', () => {
  it('validates built Assertions and Votes (validate.ts)', async () => {
    const { validateDocument } = await import('../../../src/protocol/validate.js');
    const result = { verdict: 'malicious' as const, metadata: { malware_family: 'EICAR-Test-File', comments: ['x'] } };
    const assertion = serializeAnswer(buildAnswer(bounty('assertion'), result, 10n ** 30n));
    expect(validateDocument('assertion', assertion)).toMatchObject({ valid: true, errors: [] });
    const vote = serializeAnswer(buildAnswer(bounty('arbitration'), result, 10n ** 30n));
    expect(validateDocument('vote', vote)).toMatchObject({ valid: true, errors: [] });
    expect(validateDocument('assertion', vote).valid).toBe(false);
    const unknown = serializeAnswer(buildAnswer(bounty(null), unknownResult(errorComment('boom')), 0n));
    expect(validateDocument('assertion', unknown)).toMatchObject({ valid: true, errors: [] });
  });
});
