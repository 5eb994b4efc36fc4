/**
 * The JSON Schemas of the documents polyswarm-engine checks, as data: `src/protocol/` does no I/O. The build writes
 * each one to `dist/protocol/schemas/<file>` for the package export `polyswarm-engine/schemas/*` (package.json).
 */

/** The file each schema is published as. */
export const SCHEMA_FILES = {
  assertion: 'assertion.schema.json',
  vote: 'vote.schema.json',
  bounty: 'bounty.schema.json',
  metadata: 'scan-metadata.schema.json',
} as const;

const DRAFT = 'https://json-schema.org/draft/2020-12/schema';
const VERDICT = { enum: ['benign', 'malicious', 'suspicious', 'unknown'] };
const METADATA_REF = { $ref: 'urn:polyswarm-engine:schema:scan-metadata' };
const WEI = { type: 'integer', minimum: 0 };
const ID = { type: ['integer', 'string'], minLength: 1, minimum: 0 };
const NON_EMPTY = { type: 'string', minLength: 1 };
const VERSION = { type: ['string', 'null'], pattern: '^[0-9]+([.][0-9]+)*$' };
const orNull = (type: string) => ({ type: [type, 'null'] });

const assertion = {
  $schema: DRAFT,
  $id: 'urn:polyswarm-engine:schema:assertion',
  title: 'Assertion',
  description:
    "An engine's answer to an assertion-phase bounty, POSTed to the bounty's response_url. `bid` is an integer in wei (1 NCT = 10^18), written as JSON integer digits: PolySwarm rejects a float bid with 400. `unknown` and `suspicious` bid 0.",
  type: 'object',
  required: ['verdict', 'bid', 'metadata'],
  properties: { verdict: VERDICT, bid: WEI, metadata: METADATA_REF },
};

const vote = {
  $schema: DRAFT,
  $id: 'urn:polyswarm-engine:schema:vote',
  title: 'Vote',
  description: "An engine's answer to an arbitration-phase bounty: a verdict and metadata, and no bid.",
  type: 'object',
  required: ['verdict', 'metadata'],
  properties: { verdict: VERDICT, bid: false, metadata: METADATA_REF },
};

const bounty = {
  $schema: DRAFT,
  $id: 'urn:polyswarm-engine:schema:bounty',
  title: 'Bounty',
  description:
    'The body of a `bounty` webhook event. Accepts the v0 names (guid, artifact_url) and the v1/v2 names (id, artifact_uri); unknown keys are allowed and ignored. Integers (id, bids in wei) can exceed 2^53: parse them without rounding. An expiration without a UTC offset is read as UTC.',
  type: 'object',
  required: ['artifact_type', 'expiration', 'response_url', 'rules'],
  allOf: [
    { anyOf: [{ required: ['id'] }, { required: ['guid'] }] },
    { anyOf: [{ required: ['artifact_uri'] }, { required: ['artifact_url'] }] },
  ],
  properties: {
    id: ID,
    guid: ID,
    artifact_type: { type: 'string', pattern: '^([Ff][Ii][Ll][Ee]|[Uu][Rr][Ll])$' },
    artifact_uri: NON_EMPTY,
    artifact_url: NON_EMPTY,
    expiration: {
      type: 'string',
      pattern: '^\\d{4}-\\d{2}-\\d{2}[Tt ]\\d{2}:\\d{2}(:\\d{2}([.,]\\d+)?)?([Zz]|[+-]\\d{2}(:?\\d{2})?)?$',
    },
    response_url: { type: 'string', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$' },
    rules: { type: 'object', properties: { min_allowed_bid: WEI, max_allowed_bid: WEI } },
    sha256: orNull('string'),
    mimetype: orNull('string'),
    phase: orNull('string'),
    metadata: orNull('object'),
    duration: { type: ['number', 'string', 'null'] },
    tasked_at: orNull('string'),
  },
};

const metadata = {
  $schema: DRAFT,
  $id: 'urn:polyswarm-engine:schema:scan-metadata',
  title: 'ScanMetadata',
  description:
    "The `metadata` object of a PolySwarm Assertion or Vote (polyswarm-artifact's ScanMetadata). Only `malware_family` is required; polyswarm-engine always writes all six keys. Extra keys are allowed and kept.",
  type: 'object',
  required: ['malware_family'],
  properties: {
    malware_family: { type: 'string', description: 'The family name, or an empty string when there is none (e.g. benign).' },
    domains: {
      type: ['array', 'null'],
      items: { type: 'string', minLength: 3, maxLength: 127, pattern: '^[^\\s/]+$' },
      description: 'Domains seen in the artifact.',
    },
    ip_addresses: {
      type: ['array', 'null'],
      items: { type: 'string', format: 'ip' },
      description: 'IPv4 or IPv6 addresses seen in the artifact.',
    },
    stix: {
      type: ['array', 'null'],
      items: { type: 'object', required: ['schema', 'signature'], properties: { schema: { type: 'string' }, signature: true } },
    },
    scanner: {
      type: ['object', 'null'],
      properties: {
        version: VERSION,
        polyswarmclient_version: VERSION,
        vendor_version: orNull('string'),
        signatures_version: orNull('string'),
        environment: { type: ['object', 'null'], properties: { operating_system: orNull('string'), architecture: orNull('string') } },
      },
    },
    heuristic: { type: ['boolean', 'null'], description: 'Whether the verdict came from heuristics.' },
  },
};

export const SCHEMAS: Record<keyof typeof SCHEMA_FILES, Record<string, unknown>> = { assertion, vote, bounty, metadata };
