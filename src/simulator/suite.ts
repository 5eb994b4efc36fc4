/**
 * The conformance suite of `test all`: the happy paths and the protocol's edges (cases.ts), then the failure paths
 * (failure-cases.ts).
 */
import { analyzeCase, malformedJsonCase, pingCase, runBountyCase, securityCase, wrongSignature } from './cases.js';
import type { BountyCaseOptions, CaseDefinition } from './cases.js';
import {
  artifactFaultCase,
  bodySizeCase,
  concurrentCase,
  farExpirationCase,
  hashMismatchCase,
  signatureHeaderCases,
} from './failure-cases.js';
import { pageArtifact } from './artifacts.js';
import { sign } from '../protocol/signature.js';

/** 2^64 + 1 and 2^70: beyond what a double (or a 64-bit integer) holds exactly. */
const BIG_RULES = { min_allowed_bid: (1n << 64n) + 1n, max_allowed_bid: 1n << 70n };

export function conformanceSuite(): CaseDefinition[] {
  const bounty = (name: string, options: BountyCaseOptions): CaseDefinition => ({ name, run: (ctx) => runBountyCase(ctx, options) });
  return [
    pingCase,
    bounty('bounty: EICAR → malicious', { artifact: 'eicar' }),
    bounty('bounty: benign file → benign', { artifact: 'benign' }),
    {
      name: 'bounty: URL artifact → valid answer',
      run: (ctx) => runBountyCase(ctx, { artifact: { urlArtifact: ctx.host.host(pageArtifact(), '/index.html') }, expect: 'any' }),
    },
    bounty('bounty: arbitration → Vote', { artifact: 'eicar', phase: 'arbitration' }),
    bounty('bounty: extra unknown fields are ignored', {
      artifact: 'eicar',
      extra: { x_unknown_field: 'ignore me', x_unknown_object: { nested: [1, 2, 3] }, x_unknown_number: 12345678901234567890n },
    }),
    bounty('bounty: v0 field names (guid, artifact_url)', {
      artifact: 'eicar',
      legacy: true,
      about: 'this bounty uses the v0 names guid and artifact_url, which engines should still accept',
    }),
    bounty('bounty: bid rules beyond 2^64', { artifact: 'eicar', rules: BIG_RULES }),
    bounty('bounty: already expired → 2xx, no answer', { artifact: 'eicar', expirationMs: -60_000 }),
    analyzeCase,
    securityCase('security: missing signature → 400', 400, 'a bounty without X-POLYSWARM-SIGNATURE', (_ctx, body) => ({
      body,
      signature: null,
    })),
    securityCase('security: wrong secret → 401', 401, 'a bounty signed with the wrong secret', (ctx, body) => ({
      body,
      signature: wrongSignature(ctx, body),
    })),
    securityCase('security: tampered body → 401', 401, 'a body changed after it was signed', (ctx, body) => {
      const signature = sign(ctx.secret, body);
      // Same length, one byte changed after signing, as a proxy or an attacker might.
      const tampered = Buffer.from(body.toString('utf8').replace('"phase":"assertion"', '"phase":"assertiom"'), 'utf8');
      return { body: tampered, signature };
    }),
    securityCase(
      'security: uppercase-hex nonsense signature → 401',
      401,
      'an uppercase-hex signature that does not match',
      (ctx, body) => ({ body, signature: wrongSignature(ctx, body).toUpperCase() }),
    ),
    securityCase(
      'security: sha256=-prefixed nonsense signature → 401',
      401,
      'a `sha256=`-prefixed signature that does not match',
      (ctx, body) => ({ body, signature: `sha256=${wrongSignature(ctx, body)}` }),
    ),
    malformedJsonCase,
    bounty('repeated delivery id → one answer', {
      artifact: 'eicar',
      repeatDelivery: true,
      about:
        'the same signed bounty was delivered twice with the same X-POLYSWARM-DELIVERY id; a redelivery must not be scanned and answered again',
    }),
    artifactFaultCase('404'),
    artifactFaultCase('500'),
    artifactFaultCase('reset'),
    artifactFaultCase('hang'),
    hashMismatchCase,
    ...signatureHeaderCases,
    farExpirationCase,
    concurrentCase,
    bodySizeCase,
  ];
}
