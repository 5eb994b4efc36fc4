/**
 * The pure parts of fair connections (connections.ts): which address a connection counts under, the caps that fit
 * under the open-file limit, and reading that limit.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { addressKey, capsForFileLimit, openFileLimit } from '../../../src/engine/connections.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('addressKey', () => {
  it('counts IPv4 by address, an IPv4-mapped IPv6 address as its IPv4 one', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::FFFF:127.0.0.1')).toBe('127.0.0.1');
  });

  it('counts IPv6 by its /64, however the address is written', () => {
    const key = '2001:db8:0:1::/64';
    expect(addressKey('2001:db8:0:1::1')).toBe(key);
    expect(addressKey('2001:0db8:0000:0001:ffff:0:0:2')).toBe(key);
    expect(addressKey('2001:DB8:0:1:a:b:c:d')).toBe(key);
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('2001:db8:0:2::1')).not.toBe(key);
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});

describe('capsForFileLimit', () => {
  it('keeps the asked cap, and room for as many refused connections again up to 4×, when files are plenty', () => {
    expect(capsForFileLimit(1024, 20_000)).toEqual({ maxConnections: 1024, maxRefusedHeld: 4096 });
    expect(capsForFileLimit(1024, 4096)).toEqual({ maxConnections: 1024, maxRefusedHeld: 4096 - 256 - 1024 });
  });

  it('lowers the cap under `ulimit -n`, leaving a quarter of it (at most 256) for other files', () => {
    expect(capsForFileLimit(1024, 1024)).toEqual({ maxConnections: 768, maxRefusedHeld: 0 });
    expect(capsForFileLimit(1024, 256)).toEqual({ maxConnections: 192, maxRefusedHeld: 0 });
    expect(capsForFileLimit(1024, 2048)).toEqual({ maxConnections: 1024, maxRefusedHeld: 768 });
  });

  it('trusts the asked cap where the limit is unknown', () => {
    expect(capsForFileLimit(500, undefined)).toEqual({ maxConnections: 500, maxRefusedHeld: 500 });
  });
});

describe('openFileLimit', () => {
  it("reads the soft limit of /proc/self/limits' open files line", () => {
    const dir = mkdtempSync(join(tmpdir(), 'pse-limits-'));
    dirs.push(dir);
    const file = join(dir, 'limits');
    writeFileSync(
      file,
      'Limit                     Soft Limit           Hard Limit           Units     \n' +
        'Max processes             63432                63432                processes \n' +
        'Max open files            1024                 524288               files     \n',
    );
    expect(openFileLimit(file)).toBe(1024);
    writeFileSync(file, 'Max open files            unlimited            unlimited            files     \n');
    expect(openFileLimit(file)).toBeUndefined();
    expect(openFileLimit(join(dir, 'missing'))).toBeUndefined();
  });

  it('on this machine, matches what the shell says (`ulimit -n`)', () => {
    const shell = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
    expect(openFileLimit()).toBe(shell === 'unlimited' ? undefined : Number(shell));
  });
});
