import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_EXACT_DIGITS, parseJson, stringifyJson } from '../../../src/protocol/json.js';

describe('parseJson', () => {
  it('keeps integers beyond 2^53 exact as bigints and safe ones as numbers', () => {
    const result = parseJson('{"a":18446744073709551616,"b":9007199254740991,"c":[1000000000000000000000000000000]}');
    expect(result).toMatchObject({ ok: true, value: { a: 2n ** 64n, b: 9007199254740991, c: [10n ** 30n] } });
  });

  it('reports non-integer literals by JSON Pointer with their text', () => {
    const result = parseJson('{"rules":{"max":1e+21,"min":1.0},"a/b":[2.5]}');
    if (!result.ok) throw new Error(result.error);
    expect([...result.nonIntegerLiterals]).toEqual([
      ['/rules/max', '1e+21'],
      ['/rules/min', '1.0'],
      ['/a~1b/0', '2.5'],
    ]);
    expect(result.value).toMatchObject({ rules: { max: 1e21, min: 1 } });
  });

  it('reads UTF-8 bytes and rejects invalid UTF-8, empty bodies and bad JSON without throwing', () => {
    expect(parseJson(new TextEncoder().encode('{"é":1}'))).toMatchObject({ ok: true, value: { é: 1 } });
    expect(parseJson(Uint8Array.from([0x7b, 0xff, 0x7d]))).toEqual({ ok: false, error: 'not valid UTF-8' });
    expect(parseJson('')).toEqual({ ok: false, error: 'empty body, expected a JSON document' });
    expect(parseJson(' \n')).toMatchObject({ ok: false });
    const bad = parseJson('{"a":');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error).toMatch(/^not valid JSON: /);
  });

  it('marks numbers among strings exactly as JSON.parse would read the rest (digits in strings stay text)', () => {
    const text = '{"a":"12345678901234567","b":[12345678901234567,"x\\"1.5",2.5e3],"c\\\\":18446744073709551616}';
    const result = parseJson(text);
    if (!result.ok) throw new Error(result.error);
    expect(result.value).toEqual({ a: '12345678901234567', b: [12345678901234567n, 'x"1.5', 2500], 'c\\': 2n ** 64n });
    expect([...result.nonIntegerLiterals]).toEqual([['/b/2', '2.5e3']]);
  });

  it('is linear: 100,000 strings and 100,000 keys under 1 MB, with a big number at the end, parse at once', () => {
    // The number at the end made the old pass search from every string to the end of the text: quadratic.
    // 1,000 objects of 100 keys, each key's value a string: 100,000 keys and 100,000 strings.
    const object = `{${Array.from({ length: 100 }, (_, i) => `"${i.toString(36)}":""`).join(',')}}`;
    const text = `{"s":[${Array(1000).fill(object).join(',')}],"big":18446744073709551616}`;
    expect(text.length).toBeLessThan(1_000_000);
    parseJson(text); // warm-up: the first call also compiles the regexes
    const started = performance.now();
    const result = parseJson(text);
    const ms = performance.now() - started;
    if (!result.ok) throw new Error(result.error);
    expect((result.value as { big: bigint }).big).toBe(2n ** 64n);
    expect((result.value as { s: object[] }).s.reduce((n: number, o) => n + Object.keys(o).length, 0)).toBe(100_000);
    console.log(`parseJson: ${text.length} chars, 100,000 strings and 100,000 keys in ${ms.toFixed(1)} ms`);
    // The issue asks for under 100 ms; the bound is generous for a loaded 2-core machine (the log has the figure).
    expect(ms).toBeLessThan(1000);
  });

  it('reads an integer of more than MAX_EXACT_DIGITS digits as a listed non-integer, not a slow bigint', () => {
    const exact = '9'.repeat(MAX_EXACT_DIGITS);
    const long = '1'.repeat(900_000);
    const started = performance.now();
    const result = parseJson(`{"exact":${exact},"long":[${long}]}`);
    const ms = performance.now() - started;
    if (!result.ok) throw new Error(result.error);
    expect(result.value).toEqual({ exact: BigInt(exact), long: [Number.POSITIVE_INFINITY] });
    expect([...result.nonIntegerLiterals]).toEqual([['/long/0', `${'1'.repeat(24)}…(900000 digits)`]]);
    console.log(`parseJson: a 900,000-digit integer in ${ms.toFixed(1)} ms (BigInt of it: about 0.5 s)`);
    expect(ms).toBeLessThan(1000);
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        expect(() => parseJson(text)).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });
});

describe('stringifyJson', () => {
  it('writes bigints as digits, never a float or an exponent', () => {
    expect(stringifyJson({ bid: 2n ** 64n })).toBe('{"bid":18446744073709551616}');
    expect(stringifyJson({ bid: 10n ** 30n })).toBe('{"bid":1000000000000000000000000000000}');
    expect(stringifyJson([1, 'x', null])).toBe('[1,"x",null]');
    expect(stringifyJson({ a: 1 }, 2)).toBe('{\n  "a": 1\n}');
  });

  it('throws a TypeError for a value that is not JSON', () => {
    expect(() => stringifyJson(undefined)).toThrow(TypeError);
  });

  it('round-trips big integers through parseJson', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 200n }), (n) => {
        const result = parseJson(stringifyJson({ n }));
        expect(result.ok && BigInt((result.value as { n: number | bigint }).n)).toBe(n);
      }),
    );
  });
});
