import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bountyToWire,
  idForLog,
  isExpired,
  MAX_ID_BYTES,
  MAX_PHASE_BYTES,
  msUntilExpiration,
  parseBounty,
  parseBountyBody,
} from '../../../src/protocol/bounty.js';
import { parseJson, stringifyJson } from '../../../src/protocol/json.js';
import type { BountyData, FieldError, ParseResult } from '../../../src/protocol/types.js';
import { BENIGN_BODY, MALICIOUS_BODY, README_V0_BODY } from './reference-fixtures.js';

const NOW = new Date('2030-01-01T00:00:00Z');
const FUTURE = '2030-01-01T00:00:30Z';

/** A valid v1 body; override or delete (undefined) fields per test. */
function body(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    id: 1234567890,
    artifact_type: 'file',
    artifact_uri: 'https://api.polyswarm.network/path/to/download',
    expiration: FUTURE,
    response_url: 'https://api.polyswarm.network/path/to/respond',
    rules: { min_allowed_bid: 62500000000000000n, max_allowed_bid: 1000000000000000000n },
  };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete base[key];
    else base[key] = value;
  }
  return base;
}

function ok(result: ParseResult<BountyData>): { value: BountyData; warnings: string[] } {
  if (!result.ok) throw new Error(`expected a valid bounty, got ${JSON.stringify(result.errors)}`);
  return result;
}

function errors(result: ParseResult<BountyData>): FieldError[] {
  if (result.ok) throw new Error('expected errors, got a valid bounty');
  return result.errors;
}

const parse = (overrides: Record<string, unknown>) => parseBounty(body(overrides), { now: NOW });

describe('parseBounty: the three body eras', () => {
  it('reads a v1 body with defaults for the optional fields', () => {
    const { value, warnings } = ok(parse({}));
    expect(value).toEqual({
      id: '1234567890',
      artifact_type: 'file',
      artifact_uri: 'https://api.polyswarm.network/path/to/download',
      expiration: new Date(FUTURE),
      expiration_was_naive: false,
      response_url: 'https://api.polyswarm.network/path/to/respond',
      rules: { min_allowed_bid: 62500000000000000n, max_allowed_bid: 1000000000000000000n },
      sha256: null,
      mimetype: null,
      phase: null,
      answer_kind: 'assertion',
      metadata: null,
      duration: null,
      tasked_at: null,
      version: 'v1',
    });
    expect(warnings).toEqual([]);
  });

  it('reads the README v0 sample (guid, artifact_url, FILE, naive expiration)', () => {
    const { value, warnings } = ok(parseBountyBody(README_V0_BODY, { now: NOW }));
    expect(value).toMatchObject({
      id: '7cb3067a-1ae7-4b6b-9c0e-6c3b5a4f1d2e',
      artifact_type: 'file',
      artifact_uri: 'https://secure.eicar.org/eicar.com',
      expiration: new Date('2121-02-19T10:13:47.036Z'),
      expiration_was_naive: true,
      mimetype: 'text/plain',
      phase: 'assertion',
      rules: { min_allowed_bid: 62500000000000n, max_allowed_bid: 1000000000000000000n },
      version: 'v0',
    });
    expect(warnings).toEqual(['expiration "2121-02-19T10:13:47.036168" has no UTC offset; read as UTC (2121-02-19T10:13:47.036Z)']);
  });

  it('reads both reference integration bodies, warning about the junk sha256 "asdf"', () => {
    const benign = ok(parseBountyBody(BENIGN_BODY, { now: NOW }));
    expect(benign.value).toMatchObject({ id: 'a7f8818a-95fc-4487-ad9a-522f6cd88cb2', sha256: null, version: 'v1' });
    expect(benign.value.response_url).toBe('http://integration:5000');
    expect(benign.warnings).toContain('sha256 "asdf" is not 64 hex digits; ignored (the artifact is not hash-checked)');
    const malicious = ok(parseBountyBody(MALICIOUS_BODY, { now: NOW }));
    expect(malicious.value.sha256).toBe('275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f');
    expect(malicious.value.expiration.toISOString()).toBe('2121-06-24T10:03:28.006Z');
  });

  it('reads a v2 body (duration, tasked_at) and ignores unknown keys', () => {
    const { value } = ok(parse({ duration: 30, tasked_at: '2029-12-31T23:59:30+00:00', surprise: { x: 1 } }));
    expect(value).toMatchObject({ duration: 30, tasked_at: new Date('2029-12-31T23:59:30Z'), version: 'v2' });
    expect(value).not.toHaveProperty('surprise');
    expect(ok(parse({ duration: null })).value.version).toBe('v2');
    expect(ok(parse({ duration: '30' })).value.duration).toBe('30');
    expect(ok(parse({ duration: 2n ** 64n })).value.duration).toBe('18446744073709551616');
  });

  it('prefers id over guid and artifact_uri over artifact_url', () => {
    const { value } = ok(parse({ guid: 'old', artifact_url: 'https://old.example/' }));
    expect(value.id).toBe('1234567890');
    expect(value.artifact_uri).toBe('https://api.polyswarm.network/path/to/download');
    expect(value.version).toBe('v1');
    expect(ok(parse({ id: undefined, guid: 'g-1' })).value).toMatchObject({ id: 'g-1', version: 'v0' });
  });

  it('keeps big ids exact, from bigints and from the raw body', () => {
    expect(ok(parse({ id: 2n ** 64n })).value.id).toBe('18446744073709551616');
    const raw = stringifyJson(body({ id: 123456789012345678901234567890n }));
    expect(ok(parseBountyBody(raw, { now: NOW })).value.id).toBe('123456789012345678901234567890');
    expect(ok(parse({ id: 0 })).value.id).toBe('0');
    expect(ok(parse({ id: '007' })).value.id).toBe('007');
  });

  it('normalises artifact_type case-insensitively', () => {
    for (const type of ['FILE', 'File', 'fIlE']) expect(ok(parse({ artifact_type: type })).value.artifact_type).toBe('file');
    expect(ok(parse({ artifact_type: 'URL', artifact_uri: 'example.com' })).value).toMatchObject({
      artifact_type: 'url',
      artifact_uri: 'example.com',
    });
  });

  it('derives answer_kind from phase', () => {
    for (const phase of ['arbitration', 'ARBITRATION', 'vote', 'Vote']) expect(ok(parse({ phase })).value.answer_kind).toBe('vote');
    for (const phase of ['assertion', 'assertion_window', 'assert', 'arbitrationx', null]) {
      expect(ok(parse({ phase })).value.answer_kind).toBe('assertion');
    }
    expect(ok(parse({ phase: 'Arbitration' })).value.phase).toBe('Arbitration');
  });

  it('lowercases a valid sha256 and keeps mimetype, metadata', () => {
    const sha = 'ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789';
    const { value, warnings } = ok(parse({ sha256: sha, mimetype: 'text/plain', metadata: { sha256: 'x' } }));
    expect(value).toMatchObject({ sha256: sha.toLowerCase(), mimetype: 'text/plain', metadata: { sha256: 'x' } });
    expect(warnings).toEqual([]);
    for (const junk of ['', 'asdf', `${sha}0`, `${sha.slice(0, 63)}g`]) {
      const result = ok(parse({ sha256: junk }));
      expect(result.value.sha256).toBeNull();
      expect(result.warnings).toHaveLength(1);
    }
  });

  it('keeps integer-valued extra rules as bigints and ignores the others', () => {
    const { value } = ok(parse({ rules: { max_allowed_bid: 10n ** 21n, other: 5, neg: -2, frac: 1.5, text: 'x' } }));
    expect(value.rules).toEqual({ max_allowed_bid: 10n ** 21n, other: 5n, neg: -2n });
    expect(ok(parse({ rules: {} })).value.rules).toEqual({});
  });
});

describe('parseBounty: expiration formats', () => {
  const cases: Array<[string, string, boolean]> = [
    ['2030-01-01T00:00:30Z', '2030-01-01T00:00:30.000Z', false],
    ['2030-01-01t00:00:30z', '2030-01-01T00:00:30.000Z', false],
    ['2030-01-01T00:00:30+00:00', '2030-01-01T00:00:30.000Z', false],
    ['2030-01-01T00:00:30+0000', '2030-01-01T00:00:30.000Z', false],
    ['2030-01-01T00:00:30+00', '2030-01-01T00:00:30.000Z', false],
    ['2030-01-01T02:00:30+02:00', '2030-01-01T00:00:30.000Z', false],
    ['2029-12-31T19:30:30-0430', '2030-01-01T00:00:30.000Z', false],
    ['2030-01-01 00:00:30.123456789Z', '2030-01-01T00:00:30.123Z', false],
    ['2030-01-01T00:00:30.9999+00:00', '2030-01-01T00:00:30.999Z', false],
    ['2030-01-01T00:00:30.5', '2030-01-01T00:00:30.500Z', true],
    ['2030-01-01T00:00:30,25Z', '2030-01-01T00:00:30.250Z', false],
    ['2030-01-01T00:01', '2030-01-01T00:01:00.000Z', true],
    ['2030-01-01 00:00:30', '2030-01-01T00:00:30.000Z', true],
    ['1970-01-01T00:00:00+0000', '1970-01-01T00:00:00.000Z', false],
    ['2032-02-29T00:00:00Z', '2032-02-29T00:00:00.000Z', false],
  ];
  for (const [text, iso, naive] of cases) {
    it(`reads ${text}`, () => {
      const { value, warnings } = ok(parseBounty(body({ expiration: text }), { now: new Date('1960-01-01T00:00:00Z') }));
      expect(value.expiration.toISOString()).toBe(iso);
      expect(value.expiration_was_naive).toBe(naive);
      expect(warnings.some((w) => w.includes('no UTC offset'))).toBe(naive);
    });
  }

  const invalid = [
    'tomorrow',
    '',
    '2030-01-01',
    '2030-13-01T00:00:00Z',
    '2030-02-30T00:00:00Z',
    '2031-02-29T00:00:00Z',
    '2030-01-01T24:00:00Z',
    '2030-01-01T00:60:00Z',
    '2030-01-01T00:00:60Z',
    '2030-01-01T00:00:00+24:00',
    '2030-01-01T00:00:00+01:60',
    '2030-01-01T00:00:00 Z',
    '2030-01-01T00:00:00.Z',
    ' 2030-01-01T00:00:00Z',
    '2030-01-01T00:00:00ZZ',
  ];
  for (const text of invalid) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      expect(errors(parse({ expiration: text }))).toEqual([
        { path: '/expiration', message: `must be an ISO-8601 timestamp, got ${JSON.stringify(text)}` },
      ]);
    });
  }

  it('rejects a non-string expiration', () => {
    expect(errors(parse({ expiration: 1700000000 }))).toEqual([
      { path: '/expiration', message: 'must be an ISO-8601 timestamp, got 1700000000' },
    ]);
  });

  it('warns about a bounty already past its expiration at `now`', () => {
    const { warnings } = ok(parseBounty(body({ expiration: '2029-12-31T23:59:59Z' }), { now: NOW }));
    expect(warnings).toEqual(['expired on arrival: expiration 2029-12-31T23:59:59.000Z is 1000 ms before now']);
  });
});

describe('parseBounty: errors', () => {
  it('rejects a document that is not an object', () => {
    const cases: Array<[unknown, string]> = [
      [[], 'array'],
      [null, 'null'],
      ['x', '"x"'],
      [3, '3'],
      [undefined, 'undefined'],
    ];
    for (const [value, shown] of cases) {
      expect(errors(parseBounty(value))).toEqual([{ path: '', message: `must be a JSON object, got ${shown}` }]);
    }
  });

  it('reports every missing required field at once', () => {
    expect(errors(parseBounty({}))).toEqual([
      { path: '/id', message: 'is required' },
      { path: '/artifact_type', message: 'is required' },
      { path: '/artifact_uri', message: 'is required' },
      { path: '/expiration', message: 'is required' },
      { path: '/response_url', message: 'is required' },
      { path: '/rules', message: 'is required' },
    ]);
    expect(errors(parse({ response_url: undefined }))).toEqual([{ path: '/response_url', message: 'is required' }]);
  });

  it('rejects bad ids, naming the key used', () => {
    expect(errors(parse({ id: -1 }))).toEqual([{ path: '/id', message: 'must be a non-negative integer or a non-empty string, got -1' }]);
    expect(errors(parse({ id: 1.5 }))[0].message).toBe('must be a non-negative integer or a non-empty string, got 1.5');
    expect(errors(parse({ id: '  ' }))[0].message).toBe('must be a non-negative integer or a non-empty string, got "  "');
    expect(errors(parse({ id: -3n }))[0].path).toBe('/id');
    expect(errors(parse({ id: { a: 1 } }))[0].message).toMatch(/got object$/);
    expect(errors(parse({ id: undefined, guid: true }))).toEqual([
      { path: '/guid', message: 'must be a non-negative integer or a non-empty string, got true' },
    ]);
    // A plain JS number past 2^53 has already lost its digits.
    expect(errors(parse({ id: 2 ** 60 }))[0].message).toMatch(/^must be an exact integer, got 1152921504606847000/);
  });

  it('rejects a bad artifact_type', () => {
    expect(errors(parse({ artifact_type: 'exe' }))).toEqual([
      { path: '/artifact_type', message: 'must be "file" or "url" (any case), got "exe"' },
    ]);
    expect(errors(parse({ artifact_type: 0 }))[0].message).toBe('must be "file" or "url" (any case), got 0');
  });

  it('requires an http(s) artifact_uri for a file, any non-empty string for a url', () => {
    for (const uri of [
      'data:text/plain,hi',
      'ftp://example.com/x',
      'file:///etc/passwd',
      'example.com/x',
      'https://',
      'http:example.com',
    ]) {
      expect(errors(parse({ artifact_uri: uri }))).toEqual([
        { path: '/artifact_uri', message: `must be an absolute http(s) URL for a file artifact, got ${JSON.stringify(uri)}` },
      ]);
    }
    expect(errors(parse({ artifact_uri: '' }))).toEqual([{ path: '/artifact_uri', message: 'must be a non-empty string, got ""' }]);
    expect(errors(parse({ artifact_type: 'url', artifact_uri: ['x'] }))[0].message).toBe('must be a non-empty string, got array');
    expect(errors(parse({ artifact_uri: undefined, artifact_url: 'ftp://x/y' }))[0].path).toBe('/artifact_url');
    expect(ok(parse({ artifact_uri: 'HTTP://EXAMPLE.COM/a' })).value.artifact_uri).toBe('HTTP://EXAMPLE.COM/a');
  });

  it('rejects a response_url that is not an absolute http(s) URL', () => {
    for (const url of ['/relative', 'mailto:a@b.c', 'https://', '', 'ws://example.com/']) {
      expect(errors(parse({ response_url: url }))).toEqual([
        { path: '/response_url', message: `must be an absolute http(s) URL, got ${JSON.stringify(url)}` },
      ]);
    }
    expect(errors(parse({ response_url: null }))[0].message).toBe('must be an absolute http(s) URL, got null');
  });

  it('rejects bad rules', () => {
    expect(errors(parse({ rules: [] }))).toEqual([{ path: '/rules', message: 'must be a JSON object, got array' }]);
    expect(errors(parse({ rules: { max_allowed_bid: 1.5e21 } }))).toEqual([
      { path: '/rules/max_allowed_bid', message: 'must be a non-negative integer (wei), got 1.5e+21' },
    ]);
    expect(errors(parse({ rules: { min_allowed_bid: '100', max_allowed_bid: -1 } }))).toEqual([
      { path: '/rules/min_allowed_bid', message: 'must be a non-negative integer (wei), got "100"' },
      { path: '/rules/max_allowed_bid', message: 'must be a non-negative integer (wei), got -1' },
    ]);
    expect(errors(parse({ rules: { min_allowed_bid: -1n } }))[0].path).toBe('/rules/min_allowed_bid');
    expect(errors(parse({ rules: { min_allowed_bid: 10n, max_allowed_bid: 9n } }))).toEqual([
      { path: '/rules', message: 'min_allowed_bid (10) is greater than max_allowed_bid (9)' },
    ]);
    expect(ok(parse({ rules: { min_allowed_bid: 10n, max_allowed_bid: 10n } })).value.rules.min_allowed_bid).toBe(10n);
  });

  it('rejects an id written as a float literal in the raw body (its exact digits are unknowable)', () => {
    const raw = (id: string) => stringifyJson(body()).replace('"id":1234567890', `"id":${id}`);
    expect(errors(parseBountyBody(raw('1.0')))).toEqual([
      { path: '/id', message: 'must be a non-negative integer or a non-empty string, got 1.0' },
    ]);
    expect(errors(parseBountyBody(raw('1e+21')))[0].message).toBe('must be a non-negative integer or a non-empty string, got 1e+21');
    expect(ok(parseBountyBody(raw('18446744073709551616'), { now: NOW })).value.id).toBe('18446744073709551616');
  });

  it('rejects a bid bound written as a float literal in the raw body, quoting the literal', () => {
    const raw = (rules: string) =>
      `{"id":1,"artifact_type":"file","artifact_uri":"https://a.example/x","expiration":"${FUTURE}","response_url":"https://a.example/r","rules":${rules}}`;
    expect(errors(parseBountyBody(raw('{"max_allowed_bid":1e+21}')))).toEqual([
      { path: '/rules/max_allowed_bid', message: 'must be a non-negative integer (wei), got 1e+21' },
    ]);
    expect(errors(parseBountyBody(raw('{"min_allowed_bid":1.0}')))).toEqual([
      { path: '/rules/min_allowed_bid', message: 'must be a non-negative integer (wei), got 1.0' },
    ]);
    // An extra rule written as 1.0 is not an integer either: ignored.
    expect(ok(parseBountyBody(raw('{"x":1.0,"y":2}'), { now: NOW })).value.rules).toEqual({ y: 2n });
  });

  it('rejects wrong optional field types', () => {
    expect(errors(parse({ sha256: 5, mimetype: 1, phase: ['a'], metadata: 'x', duration: true, tasked_at: 'soon' }))).toEqual([
      { path: '/sha256', message: 'must be a string or null, got 5' },
      { path: '/mimetype', message: 'must be a string or null, got 1' },
      { path: '/phase', message: 'must be a string or null, got array' },
      { path: '/metadata', message: 'must be a JSON object or null, got "x"' },
      { path: '/duration', message: 'must be a number, a string or null, got true' },
      { path: '/tasked_at', message: 'must be an ISO-8601 timestamp or null, got "soon"' },
    ]);
    expect(errors(parse({ metadata: [] }))[0].message).toBe('must be a JSON object or null, got array');
    expect(errors(parse({ tasked_at: 5 }))[0].message).toBe('must be an ISO-8601 timestamp or null, got 5');
  });

  it('collects errors from every field, not just the first', () => {
    const found = errors(parseBounty({ id: [], artifact_type: 'x', artifact_uri: '', expiration: 'x', response_url: 'x', rules: 1 }));
    expect(found.map((e) => e.path)).toEqual(['/id', '/artifact_type', '/artifact_uri', '/expiration', '/response_url', '/rules']);
  });

  it('does not read fields off the prototype or through __proto__', () => {
    const proto = JSON.parse('{"__proto__": {"id": 1}}') as Record<string, unknown>;
    expect(errors(parseBounty({ ...body({ id: undefined }), ...proto }))[0]).toEqual({ path: '/id', message: 'is required' });
    const inherited = Object.assign(Object.create({ response_url: 'https://a.example/' }) as object, body({ response_url: undefined }));
    expect(errors(parseBounty(inherited))).toEqual([{ path: '/response_url', message: 'is required' }]);
    expect(errors(parse({ rules: { constructor: 1n, toString: 'x', min_allowed_bid: 5n, max_allowed_bid: 1n } }))).toHaveLength(1);
  });

  it('never throws on arbitrary JSON values or arbitrary values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const result = parseBounty(value);
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        fc.anything({ withBigInt: true, withDate: true, withMap: true, withNullPrototype: true, withTypedArray: true }),
        (value) => {
          parseBounty(value);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never throws when valid bodies have fields replaced by arbitrary values', () => {
    const keys = [
      'id',
      'guid',
      'artifact_type',
      'artifact_uri',
      'artifact_url',
      'expiration',
      'response_url',
      'rules',
      'sha256',
      'mimetype',
      'phase',
      'metadata',
      'duration',
      'tasked_at',
    ];
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...keys), fc.oneof(fc.jsonValue(), fc.bigInt(), fc.string())), (patch) => {
        const result = parseBounty({ ...body(), ...patch });
        if (!result.ok) for (const e of result.errors) expect(e.message.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.string(), (text) => {
        parseBountyBody(text);
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseBountyBody', () => {
  it('parses bytes and text', () => {
    const text = stringifyJson(body());
    expect(ok(parseBountyBody(new TextEncoder().encode(text), { now: NOW })).value.id).toBe('1234567890');
    expect(ok(parseBountyBody(text, { now: NOW })).value.id).toBe('1234567890');
  });

  it('turns a JSON error into one error at the document path', () => {
    const found = errors(parseBountyBody('{"id":'));
    expect(found).toHaveLength(1);
    expect(found[0].path).toBe('');
    expect(found[0].message).toMatch(/^body is not valid JSON: (?!not valid JSON)/);
    expect(errors(parseBountyBody(''))).toEqual([{ path: '', message: 'body is not valid JSON: empty body, expected a JSON document' }]);
    expect(errors(parseBountyBody(Uint8Array.from([0xff])))).toEqual([{ path: '', message: 'body is not valid JSON: not valid UTF-8' }]);
    expect(errors(parseBountyBody('[1]'))).toEqual([{ path: '', message: 'must be a JSON object, got array' }]);
  });
});

describe('bountyToWire', () => {
  const full = (): BountyData =>
    ok(
      parse({
        id: 2n ** 64n,
        sha256: 'a'.repeat(64),
        mimetype: 'text/plain',
        phase: 'arbitration',
        metadata: { k: [1, 'v'] },
        duration: 30,
        tasked_at: '2029-12-31T23:59:30Z',
        rules: { min_allowed_bid: 1n, max_allowed_bid: 10n ** 30n, extra: 7n },
      }),
    ).value;

  const roundTrip = (bounty: BountyData, legacy?: boolean): BountyData => {
    const json = parseJson(stringifyJson(bountyToWire(bounty, legacy === undefined ? {} : { legacy })));
    if (!json.ok) throw new Error(json.error);
    return ok(parseBounty(json.value, { now: NOW })).value;
  };

  it('writes v1/v2 names, exact integers and ISO expirations with Z', () => {
    const wire = stringifyJson(bountyToWire(full()));
    expect(wire).toBe(
      '{"id":18446744073709551616,"artifact_type":"file","artifact_uri":"https://api.polyswarm.network/path/to/download",' +
        '"expiration":"2030-01-01T00:00:30.000Z","response_url":"https://api.polyswarm.network/path/to/respond",' +
        '"rules":{"min_allowed_bid":1,"max_allowed_bid":1000000000000000000000000000000,"extra":7},' +
        '"sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","mimetype":"text/plain","phase":"arbitration",' +
        '"metadata":{"k":[1,"v"]},"duration":30,"tasked_at":"2029-12-31T23:59:30.000Z"}',
    );
  });

  it('keeps non-canonical and non-numeric ids as strings', () => {
    expect(bountyToWire(ok(parse({ id: '007' })).value).id).toBe('007');
    expect(bountyToWire(ok(parse({ id: 'a7f8818a' })).value).id).toBe('a7f8818a');
    expect(bountyToWire(ok(parse({ id: '42' })).value).id).toBe(42n);
  });

  it('writes the v0 names and field set with legacy, and by default for a v0 bounty', () => {
    const wire = bountyToWire(full(), { legacy: true });
    expect(Object.keys(wire)).toEqual([
      'guid',
      'artifact_type',
      'artifact_url',
      'sha256',
      'mimetype',
      'expiration',
      'phase',
      'response_url',
      'rules',
    ]);
    const v0 = ok(parseBountyBody(README_V0_BODY, { now: NOW })).value;
    expect(Object.keys(bountyToWire(v0))).toContain('guid');
    expect(Object.keys(bountyToWire(v0, { legacy: false }))).toContain('id');
  });

  it('writes a naive expiration without an offset again', () => {
    const v0 = ok(parseBountyBody(README_V0_BODY, { now: NOW })).value;
    expect(bountyToWire(v0).expiration).toBe('2121-02-19T10:13:47.036');
  });

  it('writes duration and tasked_at only for v2 bounties or when set', () => {
    expect(bountyToWire(ok(parse({})).value)).not.toHaveProperty('duration');
    expect(bountyToWire(ok(parse({ tasked_at: null })).value)).toMatchObject({ duration: null, tasked_at: null });
  });

  it('round-trips: parseBounty(parseJson(stringifyJson(bountyToWire(b)))) equals b', () => {
    const samples = [
      full(),
      ok(parse({})).value,
      ok(parse({ artifact_type: 'URL', artifact_uri: 'not a url at all', id: 'x-1', phase: 'assertion_window' })).value,
      ok(parseBountyBody(README_V0_BODY, { now: NOW })).value,
      ok(parseBountyBody(BENIGN_BODY, { now: NOW })).value,
    ];
    for (const bounty of samples) expect(roundTrip(bounty)).toEqual(bounty);
    // Legacy names lose only v1-only fields (metadata, duration, tasked_at) and the version.
    const legacy = roundTrip(full(), true);
    expect(legacy).toEqual({ ...full(), metadata: null, duration: null, tasked_at: null, version: 'v0' });
  });

  it('round-trips generated bounties', () => {
    const bounty = fc.record({
      id: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 128n }).map(String), fc.uuid()),
      url: fc.webUrl(),
      ms: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2200, 0, 1) }),
      min: fc.bigInt({ min: 0n, max: 10n ** 24n }),
      span: fc.bigInt({ min: 0n, max: 10n ** 24n }),
      phase: fc.option(fc.string()),
      duration: fc.option(fc.oneof(fc.integer(), fc.string())),
    });
    fc.assert(
      fc.property(bounty, (b) => {
        const parsed = ok(
          parseBounty(
            body({
              id: b.id,
              artifact_uri: b.url,
              response_url: b.url,
              expiration: new Date(b.ms).toISOString(),
              rules: { min_allowed_bid: b.min, max_allowed_bid: b.min + b.span },
              phase: b.phase ?? undefined,
              duration: b.duration ?? undefined,
            }),
            { now: NOW },
          ),
        ).value;
        expect(roundTrip(parsed)).toEqual(parsed);
      }),
      { numRuns: 200 },
    );
  });
});

describe('isExpired / msUntilExpiration', () => {
  const bounty = { expiration: new Date('2030-01-01T00:00:10Z') };
  it('compares with now, the expiration instant itself counting as expired', () => {
    expect(isExpired(bounty, new Date('2030-01-01T00:00:09.999Z'))).toBe(false);
    expect(isExpired(bounty, new Date('2030-01-01T00:00:10Z'))).toBe(true);
    expect(isExpired(bounty, new Date('2030-01-01T00:00:11Z'))).toBe(true);
    expect(msUntilExpiration(bounty, new Date('2030-01-01T00:00:00Z'))).toBe(10_000);
    expect(msUntilExpiration(bounty, new Date('2030-01-01T00:00:12Z'))).toBe(-2_000);
  });

  it('defaults now to the current time', () => {
    const soon = { expiration: new Date(Date.now() + 60_000) };
    expect(isExpired(soon)).toBe(false);
    expect(isExpired({ expiration: new Date(Date.now() - 1) })).toBe(true);
    const left = msUntilExpiration(soon);
    expect(left).toBeGreaterThan(50_000);
    expect(left).toBeLessThanOrEqual(60_000);
  });
});

describe('bountyToWire against the shipped bounty schema', () => {
  it('writes bodies that validate.ts accepts, legacy ones included', async () => {
    const { validateDocument } = await import('../../../src/protocol/validate.js');
    const bounty = ok(parse({ id: 2n ** 64n, phase: 'arbitration', duration: 30, tasked_at: '2029-12-31T23:59:30Z' })).value;
    for (const legacy of [false, true]) {
      const text = stringifyJson(bountyToWire(bounty, { legacy }));
      expect(validateDocument('bounty', text), text).toMatchObject({ valid: true, errors: [] });
    }
  });
});

describe('parseBounty: ids and phases the engine can key', () => {
  it(`accepts an id of ${MAX_ID_BYTES} bytes and a phase of ${MAX_PHASE_BYTES}, and refuses one byte more, naming the field and the limit`, () => {
    expect(ok(parse({ id: 'i'.repeat(MAX_ID_BYTES), phase: 'p'.repeat(MAX_PHASE_BYTES) })).value.id).toHaveLength(MAX_ID_BYTES);
    expect(errors(parse({ id: 'i'.repeat(MAX_ID_BYTES + 1), phase: 'p'.repeat(MAX_PHASE_BYTES + 1) }))).toEqual([
      { path: '/id', message: `is ${MAX_ID_BYTES + 1} bytes long; at most ${MAX_ID_BYTES} bytes (UTF-8) are accepted` },
      { path: '/phase', message: `is ${MAX_PHASE_BYTES + 1} bytes long; at most ${MAX_PHASE_BYTES} bytes (UTF-8) are accepted` },
    ]);
  });

  it('counts UTF-8 bytes, not characters, and measures an integer id and a v0 guid by their digits', () => {
    // 342 three-byte characters: 1,026 bytes although only 342 characters.
    expect(errors(parse({ id: '€'.repeat(342) }))).toEqual([
      { path: '/id', message: `is 1026 bytes long; at most ${MAX_ID_BYTES} bytes (UTF-8) are accepted` },
    ]);
    const digits = `1${'0'.repeat(MAX_ID_BYTES)}`;
    const wire = `{"guid":${digits},"artifact_type":"file","artifact_url":"https://a.example/x","expiration":"${FUTURE}","response_url":"https://a.example/r","rules":{}}`;
    expect(errors(parseBountyBody(wire, { now: NOW }))).toEqual([
      { path: '/guid', message: `is ${MAX_ID_BYTES + 1} bytes long; at most ${MAX_ID_BYTES} bytes (UTF-8) are accepted` },
    ]);
  });

  it('logs a long id by its start and size, and a uint256 or a UUID whole', () => {
    const uint256 = (2n ** 256n - 1n).toString();
    expect(idForLog(uint256)).toBe(uint256);
    expect(idForLog('a7f8818a-95fc-4487-ad9a-522f6cd88cb2')).toBe('a7f8818a-95fc-4487-ad9a-522f6cd88cb2');
    expect(idForLog('x'.repeat(4096))).toBe(`${'x'.repeat(64)}…(4096 bytes)`);
  });
});
