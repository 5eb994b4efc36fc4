import { describe, expect, it } from 'vitest';
import { eventLabel, failureReason, statusLabel } from '../../../../src/engine/metrics/labels.js';
import { parseStatsdUrl } from '../../../../src/engine/metrics/statsd-url.js';

const delivery = (event: string | null) => ({ event, delivery: null, status: 200, ackMs: 1 });

describe('metric labels stay within fixed sets', () => {
  it('events: a header the sender chooses never becomes a label of its own', () => {
    expect(eventLabel(delivery('bounty'))).toBe('bounty');
    expect(eventLabel(delivery('PING'))).toBe('ping');
    expect(eventLabel(delivery(null))).toBe('none');
    expect(eventLabel(delivery('GET'))).toBe('liveness');
    expect(eventLabel(delivery('x'.repeat(100)))).toBe('other');
    expect(statusLabel(401)).toBe('401');
    expect(statusLabel(0)).toBe('other');
  });

  it('answer failures by reason', () => {
    expect(failureReason({ error: 'HTTP 404', status: 404 })).toBe('http_404');
    expect(failureReason({ error: 'HTTP 302 redirect to http://x/ not followed: …', status: 302 })).toBe('redirect');
    expect(failureReason({ error: 'more than 5 redirects (last to http://x/)', status: 307 })).toBe('redirect');
    expect(failureReason({ error: 'the egress policy (public) refused 10.0.0.1: a private address', status: null })).toBe('egress_refused');
    expect(failureReason({ error: 'expired before delivery', status: null })).toBe('expired');
    expect(failureReason({ error: 'cut by the shutdown', status: null })).toBe('shutdown');
    expect(failureReason({ error: 'another worker is posting this answer', status: null })).toBe('duplicate');
    expect(failureReason({ error: 'ECONNREFUSED', status: null })).toBe('econnrefused');
    expect(failureReason({ error: 'socket hang up, said something long', status: null })).toBe('network');
  });
});

describe('--statsd URL', () => {
  it('udp://HOST:PORT, 8125 by default; anything else says what is wrong', () => {
    expect(parseStatsdUrl('udp://127.0.0.1:9125')).toEqual({ host: '127.0.0.1', port: 9125 });
    expect(parseStatsdUrl('udp://datadog')).toEqual({ host: 'datadog', port: 8125 });
    expect(parseStatsdUrl('udp://[::1]:8125')).toEqual({ host: '::1', port: 8125 });
    expect(() => parseStatsdUrl('tcp://x:1')).toThrow('must be a udp:// URL, not tcp://');
    expect(() => parseStatsdUrl('127.0.0.1:8125')).toThrow(/udp:\/\/ URL|not a URL/);
    expect(() => parseStatsdUrl('udp://x:1/path')).toThrow('without a path');
    expect(() => parseStatsdUrl('udp://x:99999')).toThrow('is not a URL');
  });
});
