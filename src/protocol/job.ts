import type { BountyData } from './types.js';

/**
 * The dedup key of a bounty: its id and phase, both covered by the signature (the delivery id is not), so a body
 * replayed under new delivery ids is one job (docs/protocol.md §9). Queues, the journal and the recorder key by it.
 */
export function jobKey(bounty: Pick<BountyData, 'id' | 'phase'>): string {
  return `${bounty.id}:${bounty.phase ?? ''}`;
}
