import { describe, expect, it } from 'vitest';
import { DELIVERY_HEADER, EVENT_HEADER, EVENTS, parseEventName, RESPONSES, SIGNATURE_HEADER } from '../../../src/protocol/events.js';

describe('parseEventName', () => {
  it('matches the two events case-insensitively', () => {
    expect(parseEventName('ping')).toBe('ping');
    expect(parseEventName('PING')).toBe('ping');
    expect(parseEventName('Bounty')).toBe('bounty');
    expect(parseEventName(' bounty ')).toBe('bounty');
  });

  it('is null for anything else', () => {
    for (const value of ['analyze', '', '   ', 'bounties', 'pin g', null, undefined]) expect(parseEventName(value)).toBeNull();
  });
});

describe('event constants', () => {
  it('name the reference headers and bodies', () => {
    expect([EVENT_HEADER, SIGNATURE_HEADER, DELIVERY_HEADER]).toEqual([
      'X-POLYSWARM-EVENT',
      'X-POLYSWARM-SIGNATURE',
      'X-POLYSWARM-DELIVERY',
    ]);
    expect(EVENTS).toEqual(['ping', 'bounty']);
    expect(JSON.stringify(RESPONSES.ok)).toBe('{"status":"OK"}');
    expect(JSON.stringify(RESPONSES.accepted)).toBe('{"status":"ACCEPTED"}');
    expect(JSON.stringify(RESPONSES.missingSignature)).toBe('{"X-POLYSWARM-SIGNATURE":"Signature not included in headers"}');
    expect(JSON.stringify(RESPONSES.badSignature)).toBe('{"X-POLYSWARM-SIGNATURE":"Signature does not match body"}');
    expect(JSON.stringify(RESPONSES.unsupportedEvent)).toBe('{"X-POLYSWARM-EVENT":"Given event not supported"}');
    expect(RESPONSES.invalidBountyMessage).toBe('Invalid bounty request');
  });
});
