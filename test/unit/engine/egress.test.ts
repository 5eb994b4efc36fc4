/**
 * The egress policy's address rules (engine/egress.ts): what `public` and `any` refuse, the spellings that carry an
 * IPv4 address inside IPv6, and `--egress-allow` entries. Connect-time enforcement is tested on real sockets in
 * download-deliver-undici.test.ts and on a real `start` process in test/e2e/egress.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createEgressGuard, embeddedIPv4, parseAllowList } from '../../../src/engine/egress.js';

const verdict = (mode: 'public' | 'any', address: string, allow: string[] = [], host = address) =>
  createEgressGuard({ mode, allow }).check(host, address) === null ? 'allowed' : 'refused';

describe('egress policy', () => {
  it('public refuses loopback, private, shared, reserved, link-local and metadata addresses in every spelling', () => {
    const refused = [
      '127.0.0.1',
      '127.1.2.3',
      '10.0.0.1',
      '172.16.5.4',
      '192.168.1.1',
      '100.64.0.1',
      '0.0.0.0',
      '169.254.169.254',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      'fc00::1',
      'fd12:3456::1',
      'fe80::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '[::ffff:127.0.0.1]',
      '::127.0.0.1',
      '64:ff9b::a00:1',
      '2002:c0a8:101::1',
      'fe80::1%eth0',
    ];
    for (const address of refused) expect(verdict('public', address), address).toBe('refused');
    for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])
      expect(verdict('public', address), address).toBe('allowed');
  });

  it('any allows loopback and private addresses but still refuses link-local and cloud metadata', () => {
    for (const address of ['127.0.0.1', '::1', '10.1.2.3', '192.168.0.10', '::ffff:127.0.0.1'])
      expect(verdict('any', address), address).toBe('allowed');
    for (const address of [
      '169.254.169.254',
      '169.254.1.1',
      'fe80::1',
      'fd00:ec2::254',
      '100.100.100.200',
      '192.0.0.192',
      '168.63.129.16',
      '::ffff:169.254.169.254',
    ]) {
      expect(verdict('any', address), address).toBe('refused');
    }
  });

  it('exceptions: a host name (or a suffix) and CIDR blocks are allowed whatever the mode', () => {
    expect(verdict('public', '127.0.0.1', ['artifacts.internal'], 'artifacts.internal')).toBe('allowed');
    expect(verdict('public', '127.0.0.1', ['artifacts.internal'], 'other.internal')).toBe('refused');
    expect(verdict('public', '10.2.3.4', ['.corp.example'], 'a.b.corp.example')).toBe('allowed');
    expect(verdict('public', '10.2.3.4', ['.corp.example'], 'corp.example')).toBe('allowed');
    expect(verdict('public', '10.2.3.4', ['.corp.example'], 'evilcorp.example')).toBe('refused');
    expect(verdict('public', '10.2.3.4', ['10.0.0.0/8'])).toBe('allowed');
    expect(verdict('public', '11.2.3.4', ['10.0.0.0/8'])).toBe('allowed');
    expect(verdict('public', '172.16.0.1', ['10.0.0.0/8'])).toBe('refused');
    expect(verdict('public', '::ffff:10.0.0.1', ['10.0.0.0/8'])).toBe('allowed');
    expect(verdict('public', 'fd00::5', ['fd00::/8'])).toBe('allowed');
    expect(verdict('any', '169.254.169.254', ['169.254.169.254'])).toBe('allowed');
  });

  it('an address allowed once for a host never makes another allowed: each pair is judged, remembered or not', () => {
    const guard = createEgressGuard({ mode: 'any', allow: [] });
    for (let round = 0; round < 3; round++) {
      expect(guard.check('receiver', '127.0.0.1')).toBeNull();
      expect(guard.check('receiver', '169.254.169.254')).not.toBeNull();
      expect(guard.check('169.254.169.254', '169.254.169.254')).not.toBeNull();
    }
    // Past the bound of remembered pairs (1,024), the answers stay the same.
    for (let i = 0; i < 1500; i++) expect(guard.check(`h${i}`, `10.0.${i >> 8}.${i & 255}`)).toBeNull();
    expect(guard.check('receiver', '169.254.169.254')).not.toBeNull();
    expect(guard.check('receiver', '127.0.0.1')).toBeNull();
  });

  it('embeddedIPv4 finds IPv4 in mapped, compatible, NAT64 and 6to4 addresses only', () => {
    expect(embeddedIPv4('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(embeddedIPv4('::ffff:7f00:1')).toBe('127.0.0.1');
    expect(embeddedIPv4('0:0:0:0:0:ffff:a9fe:a9fe')).toBe('169.254.169.254');
    expect(embeddedIPv4('64:ff9b::7f00:1')).toBe('127.0.0.1');
    expect(embeddedIPv4('2002:7f00:1::')).toBe('127.0.0.1');
    expect(embeddedIPv4('::1')).toBeNull();
    expect(embeddedIPv4('2606:4700::1')).toBeNull();
    expect(embeddedIPv4('127.0.0.1')).toBeNull();
  });

  it('--egress-allow entries are checked: a bad prefix or a non-host is an error that names the entry', () => {
    expect(parseAllowList(' api.example.com, .corp.example ,10.0.0.0/8,fd00::/8,[::1],192.0.2.7 ')).toEqual([
      'api.example.com',
      '.corp.example',
      '10.0.0.0/8',
      'fd00::/8',
      '[::1]',
      '192.0.2.7',
    ]);
    expect(() => parseAllowList('10.0.0.0/33')).toThrow('has entry "10.0.0.0/33" whose prefix length is not 0–32');
    expect(() => parseAllowList('fd00::/129')).toThrow('prefix length is not 0–128');
    expect(() => parseAllowList('10.0.0.0/x')).toThrow('prefix length');
    expect(() => parseAllowList('http://example.com')).toThrow(
      'has entry "http://example.com", which is neither a host name nor an IP address or CIDR block',
    );
    expect(() => parseAllowList('exa mple.com')).toThrow('neither a host name');
  });
});
