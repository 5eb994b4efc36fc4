import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_EXACT_DIGITS, markBigint, parseJson, stringifyJson, unmarkBigint } from '../../../src/protocol/json.js';

describe('parseJson', () => {
  it('keeps integers beyond 2^53 exact as bigints and safe ones as numbers', () => {
    const result = parseJson('{"a":18446744073709551616,"b":9007199254740991,"c":[1000000000000000000000000000000]}');
    expect(result).toMatchObject({ ok: true, value: { a: 2n ** 64n, b: 9007199254740991, c: [10n ** 30n] } });
    // 16 digits: the shortest integers past 2^53 (and the largest safe ones, which stay numbers).
    expect(parseJson('[9007199254740993,-9007199254740993,1000000000000000,-9007199254740991]')).toMatchObject({
      ok: true,
      value: [9007199254740993n, -9007199254740993n, 1000000000000000, -9007199254740991],
    });
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

  it('a big number under a "__proto__" key stays an own data property; the prototype is untouched', () => {
    const result = parseJson('{"__proto__":18446744073709551616,"a":{"__proto__":[1.5]},"b":12345678901234567}');
    if (!result.ok) throw new Error(result.error);
    const value = result.value as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(value, '__proto__')?.value).toBe(2n ** 64n);
    expect(Object.getOwnPropertyDescriptor(value.a, '__proto__')?.value).toEqual([1.5]);
    expect(value.b).toBe(12345678901234567n);
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

  it('writes a bigint anywhere (nested, in arrays, from toJSON) as the replacer-free path writes the rest', () => {
    const value = { verdict: 'benign', n: [1n, { deep: -(2n ** 70n) }, null], at: new Date(0), t: { toJSON: () => 5n }, s: 'x1.5' };
    expect(stringifyJson(value)).toBe(
      '{"verdict":"benign","n":[1,{"deep":-1180591620717411303424},null],"at":"1970-01-01T00:00:00.000Z","t":5,"s":"x1.5"}',
    );
    expect(stringifyJson({ a: [1n] }, 2)).toBe('{\n  "a": [\n    1\n  ]\n}');
    const cycle: Record<string, unknown> = { big: 1n };
    cycle.self = cycle;
    expect(() => stringifyJson(cycle)).toThrow(/circular/);
  });

  it('markBigint and unmarkBigint write a known bigint without the slow path, alone or beside others', () => {
    const bid = 10n ** 18n;
    expect(unmarkBigint(stringifyJson({ verdict: 'benign', bid: markBigint(bid), m: { x: 'y' } }), bid)).toBe(
      '{"verdict":"benign","bid":1000000000000000000,"m":{"x":"y"}}',
    );
    expect(unmarkBigint(stringifyJson({ bid: markBigint(-5n), m: { n: 2n ** 64n } }), -5n)).toBe(
      '{"bid":-5,"m":{"n":18446744073709551616}}',
    );
  });

  it('round-trips any JSON with big integers, fractions and digits in strings through parseJson', () => {
    // Every number kind parseJson marks or leaves to JSON.parse, among strings full of digits, dots and quotes.
    const leaf = fc.oneof(
      fc.bigInt({ min: -(2n ** 100n), max: 2n ** 100n }),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.stringMatching(/^[0-9.eE+\-"\\ a]{0,12}$/),
      fc.boolean(),
      fc.constant(null),
    );
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('tree')), fc.dictionary(fc.string(), tie('tree'))),
    }));
    fc.assert(
      fc.property(tree, (value) => {
        const result = parseJson(stringifyJson(value));
        if (!result.ok) throw new Error(result.error);
        // A safe bigint comes back as a number, a big one as a bigint; a double past 2^53 written as digits (under
        // 1e21) is read as the integer those digits spell; -0 is written 0.
        const normal = (v: unknown): unknown =>
          typeof v === 'bigint'
            ? Number.isSafeInteger(Number(v))
              ? Number(v)
              : v
            : typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v) && Math.abs(v) < 1e21
              ? BigInt(String(v))
              : Object.is(v, -0)
                ? 0
                : Array.isArray(v)
                  ? v.map(normal)
                  : v !== null && typeof v === 'object'
                    ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normal(x)]))
                    : v;
        expect(normal(result.value)).toEqual(normal(value));
      }),
      { numRuns: 500 },
    );
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
