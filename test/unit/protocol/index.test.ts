import { describe, expect, it } from 'vitest';
import * as protocol from '../../../src/protocol/index.js';

describe('protocol/index', () => {
  it('re-exports the public protocol API', () => {
    const names = [
      'parseJson',
      'stringifyJson',
      'sign',
      'verify',
      'parseEventName',
      'RESPONSES',
      'VERDICTS',
      'parseBounty',
      'parseBountyBody',
      'bountyToWire',
      'isExpired',
      'msUntilExpiration',
      'DEFAULT_MIN_BID',
      'DEFAULT_MAX_BID',
      'bidRange',
      'defaultBid',
      'clampBid',
      'finalBid',
      'hostEnvironment',
      'buildScanMetadata',
      'scanMetadata',
      'ScanMetadataBuilder',
      'normalizeScanResult',
      'unknownResult',
      'SKIP',
      'errorComment',
      'buildAnswer',
      'serializeAnswer',
      'isVote',
      'validateDocument',
    ];
    for (const name of names) expect(protocol, name).toHaveProperty(name);
  });

  it('keeps the internal helpers private', () => {
    expect(protocol).not.toHaveProperty('describe');
    expect(protocol).not.toHaveProperty('own');
  });
});
