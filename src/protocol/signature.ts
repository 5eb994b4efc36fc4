import { createHmac, timingSafeEqual } from 'node:crypto';

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * The `X-POLYSWARM-SIGNATURE` of a body: lowercase-hex HMAC-SHA256 over the exact raw bytes, keyed with
 * the UTF-8 secret (not hex- or base64-decoded). A string body is taken as its UTF-8 bytes.
 */
export function sign(secret: string | Uint8Array, body: string | Uint8Array): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * Whether `header` is the signature of `body`. Constant-time. Uppercase hex is accepted (normalised);
 * anything malformed (missing, empty, non-hex, wrong length, non-ASCII, a `sha256=` prefix) is simply
 * "does not match": this never throws.
 */
export function verify(secret: string | Uint8Array, body: Uint8Array, header: string | null | undefined): boolean {
  if (typeof header !== 'string') return false;
  // Only HTTP's own optional whitespace is stripped; any other character (e.g. U+00A0) means no match.
  const candidate = header.replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase();
  if (!HEX64.test(candidate)) return false;
  const expected = Buffer.from(sign(secret, body), 'ascii');
  return timingSafeEqual(expected, Buffer.from(candidate, 'ascii'));
}
