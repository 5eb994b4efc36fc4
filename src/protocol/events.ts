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
