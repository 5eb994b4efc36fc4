import { randomUUID } from 'node:crypto';
import { sign } from './signature.js';

/** Header names as PolySwarm writes them; HTTP header names are case-insensitive. */
export const EVENT_HEADER = 'X-POLYSWARM-EVENT';
export const SIGNATURE_HEADER = 'X-POLYSWARM-SIGNATURE';
export const DELIVERY_HEADER = 'X-POLYSWARM-DELIVERY';

export type EventName = 'ping' | 'bounty';
export const EVENTS: readonly EventName[] = ['ping', 'bounty'];

/** The event named by an `X-POLYSWARM-EVENT` value (matched case-insensitively), or null if unsupported. */
export function parseEventName(value: string | null | undefined): EventName | null {
  const v = (value ?? '').trim().toLowerCase();
  return (EVENTS as readonly string[]).includes(v) ? (v as EventName) : null;
}

/** The JSON bodies of the engine's answers (docs/protocol.md §3), shared by the engine and `test`. */
export const RESPONSES = {
  ok: { status: 'OK' },
  accepted: { status: 'ACCEPTED' },
  missingSignature: { [SIGNATURE_HEADER]: 'Signature not included in headers' },
  badSignature: { [SIGNATURE_HEADER]: 'Signature does not match body' },
  unsupportedEvent: { [EVENT_HEADER]: 'Given event not supported' },
  invalidBountyMessage: 'Invalid bounty request',
} as const;

/**
 * The headers of a signed webhook delivery, named as PolySwarm sends them: the event, a delivery id (a fresh UUID
 * unless given), the signature of exactly `body`, and `Content-Type: application/json` when `json` (default true).
 */
export function signedHeaders(
  secret: string,
  body: Uint8Array,
  event: string,
  options: { deliveryId?: string; json?: boolean } = {},
): Record<string, string> {
  const headers: Record<string, string> = {
    [DELIVERY_HEADER]: options.deliveryId ?? randomUUID(),
    [EVENT_HEADER]: event,
    [SIGNATURE_HEADER]: sign(secret, body),
  };
  if (options.json ?? true) headers['Content-Type'] = 'application/json';
  return headers;
}
