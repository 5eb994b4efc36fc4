import { describe, expect, it } from 'vitest';
import { sign, verify } from '../../../src/protocol/signature.js';
import { BENIGN_BODY, MALICIOUS_BODY } from './reference-fixtures.js';

const enc = (text: string): Uint8Array => new TextEncoder().encode(text);

// docs/protocol.md §15 (the Python reference's vectors, cross-checked with openssl).
const VECTORS: Array<[string, string, string]> = [
  ['qwertyuiop', '', '069633ab8e053d4fd8a7480fa7489890f4fdb3fbaac3d69a3b20ab7193be984c'],
  ['qwertyuiop', '{}', '19fb4b920450909175ffc138528c95a39d278020a673e7314f03475719414bc6'],
  ['qwertyuiop', BENIGN_BODY, '396565b0b9c125c1cf318aa555d7eb018ab9acb759f54cfd4590b89d2ab5deee'],
  ['qwertyuiop', MALICIOUS_BODY, 'a771557c0cf57b0e4e7e1ef539321efdda068074513de0a204797b7395cd12b0'],
  ['0'.repeat(32), '', 'be1c11432b34199a33133b25f7e6e3aae5270a48d213baf560f825f52d026351'],
];

describe('sign', () => {
  it('reproduces the five reference vectors', () => {
    expect(enc(BENIGN_BODY).length).toBe(354);
    expect(enc(MALICIOUS_BODY).length).toBe(429);
    for (const [key, body, signature] of VECTORS) {
      expect(sign(key, enc(body))).toBe(signature);
      expect(sign(key, body)).toBe(signature); // a string body is its UTF-8 bytes
    }
  });

  it('signs the raw bytes, so re-encoded text signs differently', () => {
    const body = enc('{"a": 1}');
    expect(sign('k', body)).not.toBe(sign('k', enc('{"a":1}')));
    expect(sign('k', enc('é'))).toBe(sign('k', Uint8Array.from([0xc3, 0xa9])));
  });

  it('keys with the UTF-8 secret as is (not hex-decoded)', () => {
    expect(sign('00', '')).not.toBe(sign(Uint8Array.from([0]), ''));
    expect(sign('00', '')).toBe(sign(enc('00'), ''));
  });
});

describe('verify', () => {
  it('accepts every reference vector, in lowercase and uppercase', () => {
    for (const [key, body, signature] of VECTORS) {
      expect(verify(key, enc(body), signature)).toBe(true);
      expect(verify(key, enc(body), signature.toUpperCase())).toBe(true);
    }
  });

  const good = VECTORS[1][2];
  const body = enc('{}');
  const bad: Array<[string, string | null | undefined]> = [
    ['sha256= prefix', `sha256=${good}`],
    ['non-hex', `${good.slice(0, 63)}g`],
    ['one char short', good.slice(0, 63)],
    ['one char long', `${good}0`],
    ['non-ASCII', `${good.slice(0, 63)}é`],
    ['non-ASCII of the same byte length', `${good.slice(0, 62)}é`],
    ['empty', ''],
    ['undefined', undefined],
    ['null', null],
    ['another body’s signature', VECTORS[0][2]],
    ['base64 of the digest', Buffer.from(good, 'hex').toString('base64')],
    ['a trailing no-break space (non-ASCII whitespace)', `${good}\u00a0`],
    ['a leading line feed', `\n${good}`],
  ];
  for (const [name, header] of bad) {
    it(`is false without throwing for ${name}`, () => {
      expect(() => verify('qwertyuiop', body, header)).not.toThrow();
      expect(verify('qwertyuiop', body, header)).toBe(false);
    });
  }

  it("tolerates HTTP's optional whitespace (spaces, tabs) around the value", () => {
    expect(verify('qwertyuiop', body, ` ${good}\t`)).toBe(true);
  });

  it('is false for the right signature under another secret or another body', () => {
    expect(verify('qwertyuiop!', body, good)).toBe(false);
    expect(verify('qwertyuiop', enc('{ }'), good)).toBe(false);
  });
});
