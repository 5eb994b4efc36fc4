import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { DOCUMENT_KINDS, detectKind, schemaFor, validateDocument } from '../../../src/protocol/validate.js';
import { parseBounty } from '../../../src/protocol/bounty.js';
import { parseJson } from '../../../src/protocol/json.js';

const metadata = {
  malware_family: 'EICAR-Test-File',
  domains: [],
  ip_addresses: [],
  stix: [],
  scanner: {
    version: null,
    polyswarmclient_version: null,
    vendor_version: null,
    signatures_version: null,
    environment: { operating_system: 'Linux', architecture: 'x86_64' },
  },
  heuristic: null,
};
const assertion = (bid: string, extra = '') => `{"verdict":"malicious","bid":${bid},"metadata":${JSON.stringify(metadata)}${extra}}`;

function messages(result: ReturnType<typeof validateDocument>): string[] {
  return result.errors.map((e) => `${e.path}: ${e.message}`);
}

describe('validateDocument: assertions', () => {
  it('accepts what the engine posts, including bids beyond 2^64', () => {
    for (const bid of ['0', '1000000000000000000', '18446744073709551616', '1000000000000000000000000000000']) {
      const r = validateDocument('assertion', assertion(bid));
      expect(r, bid).toMatchObject({ valid: true, kind: 'assertion', errors: [] });
    }
  });

  it('catches a float bid, an exponent bid and an integral float written with a fraction, quoting the literal', () => {
    expect(messages(validateDocument('assertion', assertion('1.5e17')))).toEqual([
      '/bid: must be a JSON integer written as digits, got 1.5e17 (PolySwarm rejects a float bid with 400)',
    ]);
    expect(messages(validateDocument('assertion', assertion('1e+21')))[0]).toContain('got 1e+21');
    expect(messages(validateDocument('assertion', assertion('1000000000000000000.0')))[0]).toContain('got 1000000000000000000.0');
  });

  it('catches a negative bid, a string bid and a missing bid', () => {
    expect(messages(validateDocument('assertion', assertion('-1')))[0]).toMatch(/^\/bid: must be >= 0/);
    expect(messages(validateDocument('assertion', assertion('"100"')))).toEqual(['/bid: must be integer, got "100"']);
    const noBid = validateDocument('assertion', `{"verdict":"benign","metadata":{"malware_family":""}}`);
    expect(messages(noBid)).toEqual(['/bid: is required']);
  });

  it('names an uppercase verdict and says verdicts are lowercase', () => {
    const r = validateDocument('assertion', assertion('0').replace('"malicious"', '"MALICIOUS"'));
    expect(messages(r)).toEqual([
      '/verdict: must be one of "benign", "malicious", "suspicious", "unknown", got "MALICIOUS" (verdicts are lowercase)',
    ]);
  });

  it('catches a missing malware_family and bad metadata fields', () => {
    const r = validateDocument('assertion', '{"verdict":"benign","bid":0,"metadata":{"domains":[]}}');
    expect(messages(r)).toEqual(['/metadata/malware_family: is required']);
    const bad = validateDocument(
      'assertion',
      '{"verdict":"benign","bid":0,"metadata":{"malware_family":"","ip_addresses":["999.1.1.1"],"heuristic":"yes","scanner":{"version":"v1"}}}',
    );
    expect(messages(bad)).toEqual(
      expect.arrayContaining([
        '/metadata/ip_addresses/0: must be an IPv4 or IPv6 address, got "999.1.1.1"',
        '/metadata/heuristic: must be boolean or null, got "yes"',
        expect.stringMatching(/^\/metadata\/scanner\/version: must match pattern .*, got "v1"$/),
      ]),
    );
    expect(bad.errors).toHaveLength(3);
  });

  it('keeps extra keys (psengine-style metadata) valid', () => {
    const r = validateDocument(
      'assertion',
      '{"verdict":"unknown","bid":0,"metadata":{"malware_family":"","comments":["SKIPPED:TIMEOUT"],"product":"x"},"confidence":0.5}',
    );
    expect(r.valid).toBe(true);
  });
});

describe('validateDocument: votes, metadata, bounties', () => {
  it('rejects a bid on a vote with a message that says why', () => {
    const r = validateDocument('vote', assertion('0'));
    expect(messages(r)).toEqual(['/bid: must not be present: a Vote (arbitration) carries no bid']);
    expect(validateDocument('vote', `{"verdict":"benign","metadata":{"malware_family":""}}`).valid).toBe(true);
  });

  it('validates bare scan metadata', () => {
    expect(validateDocument('metadata', JSON.stringify(metadata)).valid).toBe(true);
    expect(messages(validateDocument('metadata', '{"malware_family":7}'))).toEqual(['/malware_family: must be string, got 7']);
  });

  it('validates bounties with the engine parser, including literal checks on wei rules', () => {
    const bounty = {
      id: 1234567890,
      artifact_type: 'file',
      artifact_uri: 'http://127.0.0.1:1/a',
      expiration: '2030-01-01T00:00:00+00:00',
      response_url: 'http://127.0.0.1:1/r',
      rules: { min_allowed_bid: 62500000000000000, max_allowed_bid: 1000000000000000000 },
    };
    expect(validateDocument('bounty', JSON.stringify(bounty)).valid).toBe(true);
    const r = validateDocument('bounty', JSON.stringify(bounty).replace('1000000000000000000}', '1e18}'));
    expect(messages(r)).toEqual(['/rules/max_allowed_bid: must be a JSON integer written as digits, got 1e18']);
    const missing = validateDocument('bounty', JSON.stringify({ ...bounty, response_url: undefined }));
    expect(missing.valid).toBe(false);
    expect(missing.errors.map((e) => e.path)).toContain('/response_url');
  });
});

describe('validateDocument: detection and unreadable input', () => {
  it('detects each kind from its keys', () => {
    expect(detectKind(JSON.parse(assertion('0')))).toBe('assertion');
    expect(detectKind({ verdict: 'benign', metadata: {} })).toBe('vote');
    expect(detectKind({ response_url: 'x' })).toBe('bounty');
    expect(detectKind({ guid: 'x', artifact_url: 'y' })).toBe('bounty');
    expect(detectKind({ malware_family: '' })).toBe('metadata');
    expect(detectKind([1])).toBeNull();
    expect(detectKind({ hello: 1 })).toBeNull();
    const r = validateDocument(undefined, assertion('0'));
    expect(r).toMatchObject({ valid: true, kind: 'assertion', detected: true });
    const unknown = validateDocument(undefined, '{"hello":1}');
    expect(unknown).toMatchObject({ valid: false, kind: null, unreadable: false });
    expect(unknown.errors[0].message).toBe('cannot tell whether this is an assertion, vote, bounty or metadata document');
    expect(unknown.errors[0].message).not.toMatch(/--\w/); // no CLI vocabulary in src/protocol
  });

  it('marks non-JSON, empty and invalid UTF-8 input unreadable', () => {
    expect(validateDocument('assertion', '{"verdict":')).toMatchObject({ valid: false, unreadable: true });
    expect(validateDocument(undefined, '   ')).toMatchObject({
      unreadable: true,
      errors: [{ path: '', message: 'empty body, expected a JSON document' }],
    });
    expect(validateDocument(undefined, new Uint8Array([0x7b, 0xff, 0x7d]))).toMatchObject({
      unreadable: true,
      errors: [{ message: 'not valid UTF-8' }],
    });
  });
});

describe('shipped schemas', () => {
  const require = createRequire(import.meta.url);
  const Ajv2020 = require('ajv/dist/2020.js');
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addFormat('ip', true);
  ajv.addSchema(schemaFor('metadata'));
  const bountySchema = ajv.compile(schemaFor('bounty'));

  it('are draft 2020-12 documents with ids and titles', () => {
    for (const kind of DOCUMENT_KINDS) {
      const schema = schemaFor(kind);
      expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(schema.$id).toMatch(/^urn:polyswarm-engine:schema:/);
      expect(typeof schema.title).toBe('string');
    }
  });

  it('the bounty schema agrees with the engine parser on valid and invalid bodies', () => {
    const base = {
      id: 1,
      artifact_type: 'FILE',
      artifact_uri: 'http://127.0.0.1:1/a',
      expiration: '2030-01-01T00:00:00Z',
      response_url: 'https://127.0.0.1:1/r',
      rules: { min_allowed_bid: 1, max_allowed_bid: 2 },
    };
    const cases: Array<[string, Record<string, unknown>]> = [
      ['v1', base],
      [
        'v0',
        {
          guid: 'abc',
          artifact_type: 'file',
          artifact_url: 'http://127.0.0.1:1/a',
          expiration: '2030-01-01T00:00:00.036168',
          response_url: 'http://x.test/',
          rules: {},
          sha256: 'asdf',
          mimetype: 'text/plain',
          phase: 'assertion',
        },
      ],
      ['v2 extras', { ...base, duration: 30, tasked_at: '2030-01-01T00:00:00+0000', unknown_key: [1] }],
      ['no id', { ...base, id: undefined }],
      ['bad type', { ...base, artifact_type: 'folder' }],
      ['bad expiration', { ...base, expiration: 'tomorrow' }],
      ['rules not object', { ...base, rules: [] }],
      ['negative bid', { ...base, rules: { max_allowed_bid: -1 } }],
      ['ftp response', { ...base, response_url: 'ftp://x/' }],
      ['array', [base] as unknown as Record<string, unknown>],
    ];
    for (const [name, body] of cases) {
      const text = JSON.stringify(body);
      const parsed = parseJson(text);
      if (!parsed.ok) throw new Error(name);
      expect(bountySchema(JSON.parse(text)), name).toBe(parseBounty(parsed.value).ok);
    }
  });
});

describe('hostile keys', () => {
  it('keeps a "__proto__" key as data instead of the prototype', () => {
    const parsed = parseJson('{"__proto__":{"polluted":1},"a":1}');
    if (!parsed.ok) throw new Error(parsed.error);
    const value = parsed.value as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect((value as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.keys(value)).toEqual(['__proto__', 'a']);
    expect(validateDocument('metadata', '{"malware_family":"","__proto__":{"malware_family":1}}').valid).toBe(true);
  });
});
