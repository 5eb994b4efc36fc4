/**
 * Label values both exporters use, each from a small fixed set: a label taken raw from a request (the event header
 * is the sender's to choose) would let anyone on the internet grow the metrics without bound.
 */
import type { AnswerEvent, DeliveryEvent } from '../observer.js';

const EVENTS = new Set(['bounty', 'ping', 'assertion', 'vote']);

/** `bounty`, `ping`, `liveness` (a GET), `none` (no header) or `other`. */
export function eventLabel(event: DeliveryEvent): string {
  // The header as PolySwarm sends it first: this runs for every request.
  if (event.event === 'bounty' || event.event === 'ping') return event.event;
  if (event.event === null) return 'none';
  if (event.event === 'GET' || event.event === 'HEAD') return 'liveness';
  const name = event.event.trim().toLowerCase();
  return EVENTS.has(name) ? name : 'other';
}

const STATUS_TEXT: string[] = [];

/** An HTTP status as its digits; anything outside 100–599 as `other`. */
export function statusLabel(status: number): string {
  if (!Number.isInteger(status) || status < 100 || status > 599) return 'other';
  return (STATUS_TEXT[status] ??= String(status));
}

/** Why an answer was not delivered, as one word (the `reason` label of docs/metrics.md). */
export function failureReason(event: Pick<AnswerEvent, 'error' | 'status'>): string {
  const error = event.error ?? '';
  if (/\bredirects?\b/.test(error)) return 'redirect';
  if (/egress policy/.test(error)) return 'egress_refused';
  if (/^expired before delivery/.test(error)) return 'expired';
  if (/shutdown/.test(error)) return 'shutdown';
  if (/already answered|another worker/.test(error)) return 'duplicate';
  if (/^HTTP \d{3}$/.test(error) && event.status !== null) return `http_${statusLabel(event.status)}`;
  if (/^[A-Z][A-Z0-9_]{2,40}$/.test(error)) return error.toLowerCase();
  return 'network';
}
