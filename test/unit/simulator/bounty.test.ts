import { describe, expect, it } from 'vitest';
import { parseBountyBody } from '../../../src/protocol/bounty.js';
import { applySet, buildBountyWire, parseSetArgument, prepareBounty, randomBountyId } from '../../../src/simulator/bounty.js';
import { UsageError } from '../../../src/util/errors.js';

const spec = {
  artifactType: 'file' as const,
  artifactUri: 'http://127.0.0.1:9/artifacts/x',
  sha256: 'a'.repeat(64),
  mimetype: 'text/plain',
  responseUrl: 'http://127.0.0.1:9/answers/y',
  expiration: new Date('2030-01-02T03:04:05.678Z'),
  phase: 'assertion' as const,
};

describe('buildBountyWire', () => {
  it('writes a current (v2) bounty: numeric id, Z expiration, default bid rules, duration and tasked_at', () => {
    const now = new Date('2030-01-02T03:03:35.678Z');
    const { bytes, parsed } = prepareBounty(buildBountyWire(spec, now));
    const text = bytes.toString('utf8');
    expect(text).toMatch(/^\{"id":\d+,"artifact_type":"file","artifact_uri":"http:\/\/127\.0\.0\.1:9\/artifacts\/x"/);
    expect(text).toContain('"expiration":"2030-01-02T03:04:05.678Z"');
    expect(text).toContain('"rules":{"min_allowed_bid":62500000000000000,"max_allowed_bid":1000000000000000000}');
    expect(text).toContain('"duration":30,"tasked_at":"2030-01-02T03:03:35.678Z"');
    expect(parsed.ok).toBe(true);
    if (parsed.ok) {
      expect(parsed.value.version).toBe('v2');
      expect(parsed.value.answer_kind).toBe('assertion');
      expect(Number.isSafeInteger(Number(parsed.value.id))).toBe(true);
    }
  });

  it('writes v0 names for --legacy and a Vote-wanting phase for arbitration', () => {
    const { wire, parsed } = prepareBounty(buildBountyWire({ ...spec, legacy: true, phase: 'arbitration' }));
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
    expect(parsed.ok && parsed.value.version).toBe('v0');
    expect(parsed.ok && parsed.value.answer_kind).toBe('vote');
  });

  it('keeps rules beyond 2^64 exact on the wire', () => {
    const { bytes } = prepareBounty(buildBountyWire({ ...spec, rules: { min_allowed_bid: (1n << 64n) + 1n, max_allowed_bid: 1n << 70n } }));
    expect(bytes.toString()).toContain('"rules":{"min_allowed_bid":18446744073709551617,"max_allowed_bid":1180591620717411303424}');
  });

  it('ids are random 53-bit-safe integers', () => {
    const ids = new Set(Array.from({ length: 200 }, () => randomBountyId()));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(id > 0n && id <= BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
  });
});

describe('--set path=value', () => {
  it('types values as JSON when they are JSON, else strings; big integers stay exact', () => {
    expect(parseSetArgument('rules.max_allowed_bid=10')).toEqual({ path: ['rules', 'max_allowed_bid'], value: 10 });
    expect(parseSetArgument('rules.max_allowed_bid=18446744073709551617').value).toBe(18446744073709551617n);
    expect(parseSetArgument('phase=arbitration').value).toBe('arbitration');
    expect(parseSetArgument('id="42"').value).toBe('42');
    expect(parseSetArgument('metadata=null').value).toBeNull();
    expect(parseSetArgument('metadata={"a":[1,true]}').value).toEqual({ a: [1, true] });
    expect(parseSetArgument('mimetype=').value).toBe('');
    expect(parseSetArgument('artifact_uri=http://x/?a=b').value).toBe('http://x/?a=b');
  });

  it('rejects arguments that are not path=value with a usage error', () => {
    expect(() => parseSetArgument('rules')).toThrow(UsageError);
    expect(() => parseSetArgument('=1')).toThrow(/expected path=value/);
    expect(() => parseSetArgument('rules..max=1')).toThrow(/empty segment/);
    expect(() => parseSetArgument('__proto__.x=1')).toThrow(/cannot be set/);
  });

  it('sets nested paths, creating objects, and the result is re-validated', () => {
    const wire = buildBountyWire(spec);
    applySet(wire, parseSetArgument('rules.max_allowed_bid=1.5'));
    applySet(wire, parseSetArgument('metadata.source.name=sim'));
    expect(wire.metadata).toEqual({ source: { name: 'sim' } });
    const { parsed } = prepareBounty(wire);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok)
      expect(parsed.errors).toContainEqual({ path: '/rules/max_allowed_bid', message: 'must be a non-negative integer (wei), got 1.5' });
  });

  it('the prepared bytes are what parseBountyBody reads', () => {
    const { bytes, parsed } = prepareBounty(buildBountyWire(spec));
    expect(parseBountyBody(bytes)).toEqual(parsed);
  });
});
