/**
 * Property-based fuzzing of the webhook endpoint of a real `polyswarm-engine start` process: thousands of generated
 * and mutated requests (methods, header sets and casings, signatures, bodies of every JSON type, truncated and
 * huge bodies, invalid UTF-8, deep nesting, big numbers). Each answer is checked against an oracle written from
 * docs/protocol.md §3; whether a signed bounty body is valid is the protocol parser's call (unit-tested on its
 * own), so here the app must agree with it. Fixed seed (FUZZ_SEED overrides it); on failure fast-check prints the
 * seed and the shrunk counterexample.
 */
import { createHmac } from 'node:crypto';
import { Agent, METHODS } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBountyBody } from '../../../src/protocol/bounty.js';
import { bountyBody, startLoopback, type Loopback } from '../../helpers/loopback.js';
import { rawRequest, removeProject, SECRET, startEngine, writeProject, type EngineProcess, type RawResponse } from './harness.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261127);
const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const CAP = 1024 * 1024;
/** Methods node's HTTP parser knows; anything else is refused by the parser itself (400 from clientError). */
const PARSER_METHODS = new Set(METHODS);

let lb: Loopback;
let engine: EngineProcess;
let project: string;
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

beforeAll(async () => {
  lb = await startLoopback();
  lb.receiver('/answer');
  // Instant scans that never fetch: accepted bounties cost one answer POST to the loopback receiver, nothing more.
  project = writeProject(`export function scan() { return { verdict: 'benign' }; }\n`);
  engine = await startEngine(project, ['--concurrency', '4']);
});

afterAll(async () => {
  agent.destroy();
  await engine?.kill();
  await lb?.close();
  if (project) removeProject(project);
});

// ---------------------------------------------------------------------------------------------------------------
// The oracle (docs/protocol.md §3)

function hmac(body: Buffer): string {
  return createHmac('sha256', SECRET).update(body).digest('hex');
}

/** What the engine must make of the signature header value(s) it received (node joins repeats with ", "). */
function signatureValid(body: Buffer, value: string): boolean {
  const candidate = value.replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(candidate) && candidate === hmac(body);
}

function isJsonType(value: string): boolean {
  const type = value.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || /^application\/[a-z0-9.!#$%&'*^_`{|}~-]+\+json$/.test(type);
}

interface Sample {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body: Buffer;
  chunked: boolean;
  /** What the body is, for the failure report. */
  kind: string;
}

/** A HEAD request has no body as far as a web Request goes: its signature is checked over zero bytes. */
const signedBody = (sample: Sample) => (sample.method === 'HEAD' ? Buffer.alloc(0) : sample.body);

function header(sample: Sample, name: string): string | undefined {
  const values = Object.entries(sample.headers)
    .filter(([k]) => k.toLowerCase() === name)
    .flatMap(([, v]) => (Array.isArray(v) ? v : [v]));
  // Node trims optional whitespace around each value and joins repeated custom headers with ", ".
  return values.length === 0 ? undefined : values.map((v) => v.replace(/^[ \t]+|[ \t]+$/g, '')).join(', ');
}

/** The path as the server's URL parser sees it (dot segments resolved, so `/..` and `/%2e` are `/`). */
const pathname = (path: string) => new URL(`http://engine.test${path}`).pathname;

/** A signature header that can be a signature: 64 hex digits, optional whitespace around (engine/signature-gate.ts). */
const SIGNATURE_SHAPE = /^[ \t]*[0-9a-fA-F]{64}[ \t]*$/;

/** Whether the engine refuses this request on its signature header alone, before reading the body. */
function refusedBeforeBody(sample: Sample): boolean {
  if (sample.method === 'GET' || !PARSER_METHODS.has(sample.method)) return false;
  if (sample.body.length > CAP && !sample.chunked) return false; // 413 comes first
  const signature = header(sample, 'x-polyswarm-signature');
  return signature === undefined || !SIGNATURE_SHAPE.test(signature);
}

/** The status docs/protocol.md §3 gives for this request. */
function expectedStatus(sample: Sample): number {
  if (!PARSER_METHODS.has(sample.method)) return 400;
  if (sample.method === 'GET') return pathname(sample.path) === '/' ? 200 : 404;
  // A declared Content-Length over the cap is refused before anything is read.
  if (sample.body.length > CAP && !sample.chunked) return 413;
  // Then the signature header gates the body: missing (400) or malformed (401) is refused before it is read.
  const signature = header(sample, 'x-polyswarm-signature');
  if (signature === undefined) return 400;
  if (!SIGNATURE_SHAPE.test(signature)) return 401;
  // A chunked body is counted as it is read (a HEAD's never is).
  if (sample.body.length > CAP && sample.method !== 'HEAD') return 413;
  if (!signatureValid(signedBody(sample), signature)) return 401;
  if (pathname(sample.path) !== '/') return 404;
  if (sample.method !== 'POST') return 405;
  const event = (header(sample, 'x-polyswarm-event') ?? '').trim().toLowerCase();
  if (event === 'ping') return 200;
  if (event !== 'bounty') return 400;
  const contentType = header(sample, 'content-type');
  if (contentType !== undefined && !isJsonType(contentType)) return 415;
  return parseBountyBody(sample.body).ok ? 202 : 400;
}

/** Checks one answer; returns a description of what is wrong, or null. */
function violation(sample: Sample, response: RawResponse): string | null {
  const expected = expectedStatus(sample);
  if (response.status >= 500) return `a ${response.status}`;
  const type = String(response.headers['content-type'] ?? '');
  if (!type.startsWith('application/json')) return `Content-Type ${JSON.stringify(type)}, not JSON`;
  const signed = sample.method === 'GET' || signatureValid(signedBody(sample), header(sample, 'x-polyswarm-signature') ?? '');
  if (!signed && response.status >= 200 && response.status < 300) return `an unsigned request was accepted (${response.status})`;
  if (response.status !== expected) return `status ${response.status}, expected ${expected}`;
  if (sample.method === 'HEAD') return null;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return `body is not JSON: ${JSON.stringify(response.body.toString('utf8').slice(0, 200))}`;
  }
  const text = JSON.stringify(json);
  const exact: Record<number, string | undefined> = {
    200: '{"status":"OK"}',
    202: '{"status":"ACCEPTED"}',
    401: '{"X-POLYSWARM-SIGNATURE":"Signature does not match body"}',
  };
  if (exact[expected] !== undefined && text !== exact[expected]) return `body ${text}, expected ${exact[expected]}`;
  if (expected === 400) {
    const ok =
      text === '{"X-POLYSWARM-SIGNATURE":"Signature not included in headers"}' ||
      text === '{"X-POLYSWARM-EVENT":"Given event not supported"}' ||
      typeof json.error === 'string' ||
      (json.bounty === 'Invalid bounty request' &&
        Array.isArray(json.errors) &&
        json.errors.length > 0 &&
        json.errors.every((e: { path?: unknown; message?: unknown }) => typeof e.path === 'string' && typeof e.message === 'string'));
    if (!ok) return `a 400 body that says nothing precise: ${text.slice(0, 300)}`;
  }
  if ([404, 405, 413, 415].includes(expected) && typeof json.error !== 'string') return `body without an error message: ${text}`;
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// Generators

const INVALID_UTF8 = [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82]];
const URL_KEYS = new Set(['artifact_uri', 'response_url', 'artifact_url']);

/** A bounty object as the platform might send it (every era, big ids and bids, short expirations). */
function bountyObject(): fc.Arbitrary<Record<string, unknown>> {
  const soon = fc.integer({ min: -5000, max: 3000 }).map((ms) => new Date(Date.now() + ms).toISOString());
  const naive = fc.integer({ min: 500, max: 3000 }).map((ms) => new Date(Date.now() + ms).toISOString().replace('Z', ''));
  return fc.record({
    id: fc.oneof(fc.nat(), fc.bigInt({ min: 2n ** 53n, max: 2n ** 90n }), fc.uuid(), fc.string({ maxLength: 12 })),
    artifact_type: fc.constantFrom('file', 'FILE', 'url', 'Url', 'blob'),
    expiration: fc.oneof(soon, naive, fc.constantFrom('tomorrow', '2021-02-30T00:00:00Z', '')),
    phase: fc.option(fc.constantFrom('assertion', 'arbitration', 'vote', 'ASSERTION', 'assertion_window'), { nil: undefined }),
    sha256: fc.option(fc.constantFrom('ab'.repeat(32), 'AB'.repeat(32), 'xyz', ''), { nil: undefined }),
    rules: fc.oneof(
      fc.constant({ min_allowed_bid: 62500000000000000n, max_allowed_bid: 1000000000000000000n }),
      fc.record({ min_allowed_bid: fc.bigInt({ min: 0n, max: 2n ** 70n }), max_allowed_bid: fc.bigInt({ min: 0n, max: 2n ** 100n }) }),
      fc.constant({}),
    ),
    extra: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), { nil: undefined }),
  });
}

/**
 * A bounty body; `changes` replace or add keys after the URLs are set (undefined removes one), so a mutation can
 * also take the URLs away (bigints are written as digits).
 */
const serialize = (bounty: Record<string, unknown>, changes: Record<string, unknown> = {}) => {
  const { extra, ...rest } = bounty;
  return bountyBody({
    ...(extra as Record<string, unknown> | undefined),
    ...rest,
    artifact_uri: `${lb.origin}/artifact`,
    response_url: `${lb.origin}/answer`,
    ...changes,
  });
};

/** Byte-level and structural mutations of a valid bounty body. */
const mutatedBounty = fc
  .tuple(
    bountyObject(),
    fc.oneof(
      fc.record({
        op: fc.constant('drop' as const),
        key: fc.constantFrom('id', 'artifact_type', 'expiration', 'response_url', 'artifact_uri', 'rules'),
      }),
      fc.record({
        op: fc.constant('set' as const),
        key: fc.constantFrom('id', 'artifact_type', 'expiration', 'phase', 'rules', 'sha256', 'metadata', 'response_url', 'duration'),
        value: fc.jsonValue({ maxDepth: 3 }),
      }),
      fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ op: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constant('utf8' as const), at: fc.nat(), bytes: fc.constantFrom(...INVALID_UTF8) }),
      fc.record({ op: fc.constant('append' as const), tail: fc.constantFrom(',', '}', ' garbage', '\u0000', '{"id":2}') }),
    ),
  )
  .map(([bounty, mutation]) => {
    if (mutation.op === 'drop') {
      return { kind: `bounty without ${mutation.key}`, body: Buffer.from(serialize(bounty, { [mutation.key]: undefined })) };
    }
    if (mutation.op === 'set') {
      // Never a new string URL: a valid bounty must not send the engine anywhere but the loopback host.
      const value = URL_KEYS.has(mutation.key) && typeof mutation.value === 'string' ? 42 : mutation.value;
      return {
        kind: `bounty with ${mutation.key}=${JSON.stringify(value)?.slice(0, 40)}`,
        body: Buffer.from(serialize(bounty, { [mutation.key]: value })),
      };
    }
    const bytes = Buffer.from(serialize(bounty));
    if (mutation.op === 'truncate') return { kind: 'truncated bounty', body: bytes.subarray(0, mutation.at % bytes.length) };
    if (mutation.op === 'flip') {
      const copy = Buffer.from(bytes);
      copy[mutation.at % copy.length] = mutation.byte;
      return { kind: 'bounty with a flipped byte', body: copy };
    }
    if (mutation.op === 'utf8') {
      const at = mutation.at % bytes.length;
      return {
        kind: 'bounty with invalid UTF-8',
        body: Buffer.concat([bytes.subarray(0, at), Buffer.from(mutation.bytes), bytes.subarray(at)]),
      };
    }
    return { kind: 'bounty with trailing bytes', body: Buffer.concat([bytes, Buffer.from(mutation.tail)]) };
  });

const deepBody = fc
  .tuple(fc.constantFrom(10, 511, 512, 513, 2500, 5000, 200_000), fc.constantFrom('array', 'object', 'in-metadata'))
  .map(([depth, shape]) => {
    const open = shape === 'array' ? '[' : '{"a":';
    const close = shape === 'array' ? ']' : '}';
    const nest = `${open.repeat(depth)}1${close.repeat(depth)}`;
    if (shape !== 'in-metadata') return { kind: `${depth}-deep ${shape}`, body: Buffer.from(nest) };
    const bounty = bountyBody({ id: `deep-${depth}`, artifact_uri: `${lb.origin}/artifact`, response_url: `${lb.origin}/answer` });
    return {
      kind: `bounty with ${depth}-deep metadata`,
      body: Buffer.from(bounty.replace(/}$/, `,"metadata":${'['.repeat(depth)}${']'.repeat(depth)}}`)),
    };
  });

const bigNumbers = fc
  .constantFrom('1e400', '-1e400', '1'.repeat(400), '18446744073709551616', '-0', '0.1e-999999', '1.0', '123456789012345678901234567890.5')
  .chain((n) =>
    fc.constantFrom(
      { kind: `bare number ${n.slice(0, 20)}`, body: Buffer.from(n) },
      {
        kind: `id ${n.slice(0, 20)}`,
        body: Buffer.from(
          bountyBody({ response_url: `${lb.origin}/answer`, artifact_uri: `${lb.origin}/artifact` }).replace(/"id":\d+/, `"id":${n}`),
        ),
      },
      {
        kind: `bid ${n.slice(0, 20)}`,
        body: Buffer.from(
          bountyBody({ response_url: `${lb.origin}/answer`, artifact_uri: `${lb.origin}/artifact` }).replace(
            /"max_allowed_bid":\d+/,
            `"max_allowed_bid":${n}`,
          ),
        ),
      },
    ),
  );

const hugeBody = fc.constantFrom(CAP, CAP + 1, 2 * CAP).map((size) => ({ kind: `${size}-byte body`, body: Buffer.alloc(size, 0x20) }));

const bodyArb: fc.Arbitrary<{ kind: string; body: Buffer }> = fc.oneof(
  { weight: 4, arbitrary: bountyObject().map((b) => ({ kind: 'bounty', body: Buffer.from(serialize(b)) })) },
  { weight: 6, arbitrary: mutatedBounty },
  { weight: 3, arbitrary: fc.jsonValue().map((v) => ({ kind: 'JSON value', body: Buffer.from(JSON.stringify(v) ?? 'null') })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'empty', body: Buffer.alloc(0) }) },
  { weight: 1, arbitrary: deepBody },
  { weight: 1, arbitrary: bigNumbers },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }).map((b) => ({ kind: 'random bytes', body: Buffer.from(b) })) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((s) => ({ kind: 'unicode text', body: Buffer.from(s) })) },
  { weight: 1, arbitrary: hugeBody },
);

type SignatureKind =
  | 'none'
  | 'valid'
  | 'upper'
  | 'padded'
  | 'prefixed'
  | 'wrong-secret'
  | 'truncated'
  | 'empty'
  | 'latin1'
  | 'random'
  | 'twice'
  | 'stale';
const signatureArb = fc.constantFrom<SignatureKind>(
  'valid',
  'valid',
  'valid',
  'valid',
  'none',
  'upper',
  'padded',
  'prefixed',
  'wrong-secret',
  'truncated',
  'empty',
  'latin1',
  'random',
  'twice',
  'stale',
);

function signatureValue(kind: SignatureKind, body: Buffer, random: string): string | string[] | undefined {
  const good = hmac(body);
  switch (kind) {
    case 'none':
      return undefined;
    case 'valid':
      return good;
    case 'upper':
      return good.toUpperCase();
    case 'padded':
      return ` \t${good}\t `;
    case 'prefixed':
      return `sha256=${good}`;
    case 'wrong-secret':
      return createHmac('sha256', 'not-the-secret').update(body).digest('hex');
    case 'truncated':
      return good.slice(0, 63);
    case 'empty':
      return '';
    case 'latin1':
      return `${good.slice(0, 62)}\u00e9\u00e9`;
    case 'random':
      return random;
    case 'twice':
      return [good, good];
    case 'stale':
      return hmac(Buffer.concat([body, Buffer.from(' ')]));
  }
}

const eventArb = fc.option(
  fc.constantFrom('ping', 'PING', 'Ping', ' bounty ', 'bounty', 'BOUNTY', 'Bounty', 'analyze', '', 'bounty,ping', 'pingx'),
  {
    nil: undefined,
  },
);
const contentTypeArb = fc.option(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'application/vnd.polyswarm+json',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/jsonx',
    'json',
  ),
  { nil: undefined },
);
const methodArb = fc.constantFrom(
  'POST',
  'POST',
  'POST',
  'POST',
  'POST',
  'GET',
  'HEAD',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'FOO',
  'M-SEARCH',
  'BREW',
);
const pathArb = fc.constantFrom('/', '/', '/', '/', '/?x=1', '/webhook', '//', '/%2e', '/..', '/%zz', '/%', '/?');

/** A request whose envelope varies in everything: method, path, each header, its casing, the signature. */
const anyEnvelope = fc.record({
  method: methodArb,
  path: pathArb,
  signature: signatureArb,
  event: eventArb,
  contentType: contentTypeArb,
});
/** A well-formed signed bounty delivery (only the body and the casing vary), so that bodies reach the parser. */
const bountyEnvelope = fc.record({
  method: fc.constant('POST'),
  path: fc.constant('/'),
  signature: fc.constantFrom<SignatureKind>('valid', 'valid', 'valid', 'upper', 'padded'),
  event: fc.constantFrom('bounty', 'BOUNTY', 'Bounty'),
  contentType: fc.constantFrom<string | undefined>('application/json', 'application/json; charset=utf-8', undefined),
});

const sampleArb: fc.Arbitrary<Sample> = fc
  .record({
    envelope: fc.oneof({ weight: 1, arbitrary: anyEnvelope }, { weight: 1, arbitrary: bountyEnvelope }),
    body: bodyArb,
    random: fc.string({ maxLength: 70 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
    delivery: fc.option(fc.uuid(), { nil: undefined }),
    casing: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
    chunked: fc.boolean(),
  })
  .map((r) => {
    const { method, path, signature: signatureKind, event, contentType } = r.envelope;
    // Header names in random casings: they are case-insensitive on the wire.
    const cased = (name: string) => [...name].map((c, i) => (r.casing[i % r.casing.length] ? c.toUpperCase() : c.toLowerCase())).join('');
    const headers: Record<string, string | string[]> = {};
    const signature = signatureValue(signatureKind, r.body.body, r.random);
    if (signature !== undefined) headers[cased('x-polyswarm-signature')] = signature;
    if (event !== undefined) headers[cased('x-polyswarm-event')] = event;
    if (contentType !== undefined) headers[cased('content-type')] = contentType;
    if (r.delivery !== undefined) headers[cased('x-polyswarm-delivery')] = r.delivery;
    return {
      method,
      path,
      headers,
      body: r.body.body,
      chunked: r.chunked && r.body.body.length > 0,
      kind: `${r.body.kind}, signature ${signatureKind}`,
    };
  });

// ---------------------------------------------------------------------------------------------------------------

describe(`fuzzing the webhook endpoint of \`start\` (seed ${SEED}, ${RUNS} runs)`, () => {
  it('never a 5xx or a crash, never an unsigned request accepted, every answer JSON with the status docs/protocol.md §3 gives', async () => {
    const statuses = new Map<number, number>();
    let resets = 0;
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(sampleArb, async (sample) => {
        let response: RawResponse;
        try {
          response = await rawRequest(engine.url, {
            method: sample.method,
            path: sample.path,
            headers: sample.headers,
            body: sample.body,
            chunked: sample.chunked,
            agent,
            timeoutMs: 10_000,
          });
        } catch (error) {
          // A refusal that comes before the body is read (413 on the declared length, or node's parser rejecting the
          // request line) closes the connection without reading the rest (docs/protocol.md §12); a client still
          // writing a big body may then get the kernel's reset before it reads the answer. A refusal all the same.
          const code = (error as NodeJS.ErrnoException).code;
          const refusedUnread = expectedStatus(sample) === 413 || !PARSER_METHODS.has(sample.method) || refusedBeforeBody(sample);
          if (refusedUnread && sample.body.length > 64 * 1024 && (code === 'EPIPE' || code === 'ECONNRESET')) {
            resets++;
            return;
          }
          throw new Error(
            `no answer (${(error as Error).message}) to ${sample.method} ${sample.path} [${sample.kind}]; engine ${engine.child.exitCode === null ? 'alive' : `exited ${engine.child.exitCode}`}`,
          );
        }
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        const problem = violation(sample, response);
        if (problem) {
          throw new Error(
            `${problem} for ${sample.method} ${sample.path} [${sample.kind}] headers ${JSON.stringify(sample.headers)}: ${response.body.toString('utf8').slice(0, 300)}`,
          );
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `fuzz: ${RUNS} requests in ${seconds} s, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}, ${resets} big uploads refused unread were reset before the answer was read`,
    );
    // The generators must really reach every row of the table, or the property proves little.
    for (const status of [200, 202, 400, 401, 404, 405, 413, 415])
      expect(statuses.get(status) ?? 0, `status ${status} never produced`).toBeGreaterThan(0);

    // Still serving, still the same process.
    expect(engine.child.exitCode).toBeNull();
    const live = await rawRequest(engine.url, { method: 'GET' });
    expect(live.status).toBe(200);
    const ping = await rawRequest(engine.url, {
      method: 'POST',
      headers: { 'x-polyswarm-event': 'ping', 'x-polyswarm-signature': hmac(Buffer.alloc(0)) },
    });
    expect([ping.status, ping.body.toString()]).toEqual([200, '{"status":"OK"}']);
    expect(engine.output()).not.toMatch(/unexpected error|uncaught|FATAL/i);
  }, 120_000);
});
