/**
 * The webhook's signature gate (app.ts), in two steps so nothing is read from a client that cannot be PolySwarm: the
 * header's presence and shape before the body (refused at once, connection closed: unsigned floods cost no memory),
 * then the HMAC over the raw body, with the current secret and, during a rotation, the previous one (docs/protocol.md).
 */
import { RESPONSES } from '../protocol/events.js';
import { verify } from '../protocol/signature.js';

/** Only HTTP's optional whitespace around 64 hex digits (either case) can be a signature (see protocol/signature.ts). */
const SIGNATURE_SHAPE = /^[ \t]*[0-9a-fA-F]{64}[ \t]*$/;

/** Why a request is refused before its body is read, or null when its header can be a signature. */
export function signatureHeaderRefusal(header: string | null): 'missing' | 'malformed' | null {
  if (header === null) return 'missing';
  return SIGNATURE_SHAPE.test(header) ? null : 'malformed';
}

/** The early refusals' bodies (docs/protocol.md §3), sent with `Connection: close`. */
export const EARLY_REFUSAL_BODY = { missing: RESPONSES.missingSignature, malformed: RESPONSES.badSignature } as const;
export const EARLY_REFUSAL_STATUS = { missing: 400, malformed: 401 } as const;

/** Which secret signed `body`: `current`, `previous` (during a rotation), or null when neither did. */
export type SignedWith = 'current' | 'previous' | null;

/** A checker over the current secret and an optional previous one (an empty previous secret counts as none). */
export function createSignatureCheck(secret: string, previous?: string): (body: Uint8Array, header: string) => SignedWith {
  const old = previous && previous !== secret ? previous : undefined;
  return (body, header) => {
    if (verify(secret, body, header)) return 'current';
    if (old !== undefined && verify(old, body, header)) return 'previous';
    return null;
  };
}
