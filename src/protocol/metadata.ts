import os from 'node:os';
import type { ScanMetadata, ScannerInfo, StixSignature } from './types.js';

/** `scanner.environment` as the platform reads it (psengine: `platform.system()` / `platform.machine()`). */
export interface HostEnvironment {
  operating_system: string;
  architecture: string;
}

// Node's names → Python's platform.machine() names, which the reference engines send.
const ARCHITECTURES: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', ia32: 'i686' };

/** This host's `{ operating_system, architecture }`, e.g. `{ "Linux", "x86_64" }` (os.type() and the Python machine name). */
export function hostEnvironment(): HostEnvironment {
  return { operating_system: os.type(), architecture: ARCHITECTURES[os.arch()] ?? os.arch() };
}

export interface BuildScanMetadataOptions {
  /** Defaults for `scanner.environment` instead of this host's (values the input gives still win). */
  environment?: Partial<HostEnvironment>;
}

export type ScanMetadataInput = Partial<ScanMetadata> & Record<string, unknown>;

const SIX_KEYS = new Set(['malware_family', 'domains', 'ip_addresses', 'stix', 'scanner', 'heuristic']);
const SCANNER_VERSIONS = ['version', 'polyswarmclient_version', 'vendor_version', 'signatures_version'] as const;

/** Sets an own key, even `__proto__` (which plain assignment would turn into a prototype change). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function buildScanner(given: ScannerInfo | null | undefined, options: BuildScanMetadataOptions): ScannerInfo {
  const input: ScannerInfo = given ?? {};
  const env = input.environment ?? {};
  const host = hostEnvironment();
  const environment: Record<string, unknown> = {
    operating_system: env.operating_system ?? options.environment?.operating_system ?? host.operating_system,
    architecture: env.architecture ?? options.environment?.architecture ?? host.architecture,
  };
  for (const [key, value] of Object.entries(env)) if (!Object.hasOwn(environment, key)) setOwn(environment, key, value);
  // Key order on the wire: the four versions, environment, then any extra scanner keys.
  const scanner: ScannerInfo = {};
  for (const key of SCANNER_VERSIONS) scanner[key] = input[key] ?? null;
  scanner.environment = environment;
  for (const [key, value] of Object.entries(input)) if (!Object.hasOwn(scanner, key)) setOwn(scanner, key, value);
  return scanner;
}

/**
 * A complete ScanMetadata as the reference sends it (pydantic `.dict()`): the six keys always present, in order
 * (`malware_family` '', `domains` [], `ip_addresses` [], `stix` [], `scanner`, `heuristic` null), then the input's
 * extra keys (`comments`, `product`, …). `scanner` is always an object with the four version keys (null unless
 * given) and `environment.operating_system`/`architecture` filled from `options.environment` or this host; values
 * the input gives win. An explicit `null` for domains/ip_addresses/stix/heuristic is kept (the schema allows it).
 * The input is not mutated; arrays are copied.
 */
export function buildScanMetadata(input?: ScanMetadataInput | null, options: BuildScanMetadataOptions = {}): ScanMetadata {
  const given: ScanMetadataInput = input ?? {};
  const copy = <T>(list: T[] | null | undefined): T[] | null => (list === null ? null : [...(list ?? [])]);
  const metadata: ScanMetadata = {
    malware_family: typeof given.malware_family === 'string' ? given.malware_family : '',
    domains: copy(given.domains),
    ip_addresses: copy(given.ip_addresses),
    stix: copy(given.stix),
    scanner: buildScanner(given.scanner, options),
    heuristic: given.heuristic ?? null,
  };
  for (const [key, value] of Object.entries(given)) if (!SIX_KEYS.has(key)) setOwn(metadata, key, value);
  return metadata;
}

/**
 * A fluent ScanMetadata builder for scan authors:
 * `scanMetadata().malwareFamily('EICAR-Test-File').scanner({ vendor_version: '1.2' }).comment('…').build()`.
 * List methods (`domains`, `ipAddresses`, `stix`, `comment`) append; the others set. `build()` goes through
 * `buildScanMetadata`, so the result is complete.
 */
export class ScanMetadataBuilder {
  #family = '';
  #domains: string[] = [];
  #ips: string[] = [];
  #stix: StixSignature[] = [];
  #scanner: ScannerInfo = {};
  #heuristic: boolean | null = null;
  #comments: string[] = [];
  #extras: Record<string, unknown> = {};

  malwareFamily(name: string): this {
    this.#family = name;
    return this;
  }

  /** Merges scanner fields (`version`, `vendor_version`, `signatures_version`, `environment`, …) into earlier ones. */
  scanner(info: ScannerInfo): this {
    const environment = info.environment || this.#scanner.environment ? { ...this.#scanner.environment, ...info.environment } : undefined;
    this.#scanner = { ...this.#scanner, ...info, ...(environment ? { environment } : {}) };
    return this;
  }

  domains(domains: readonly string[]): this {
    this.#domains.push(...domains);
    return this;
  }

  ipAddresses(addresses: readonly string[]): this {
    this.#ips.push(...addresses);
    return this;
  }

  stix(signature: StixSignature): this {
    this.#stix.push(signature);
    return this;
  }

  heuristic(value: boolean): this {
    this.#heuristic = value;
    return this;
  }

  /** Adds a line to `metadata.comments` (how `SKIPPED:…` and `ERROR:…` reasons travel). */
  comment(text: string): this {
    this.#comments.push(text);
    return this;
  }

  /** Sets an extra metadata key (kept as is, after the six standard ones). */
  extra(key: string, value: unknown): this {
    this.#extras[key] = value;
    return this;
  }

  build(options: BuildScanMetadataOptions = {}): ScanMetadata {
    const input: ScanMetadataInput = {
      malware_family: this.#family,
      domains: this.#domains,
      ip_addresses: this.#ips,
      stix: this.#stix,
      scanner: this.#scanner,
      heuristic: this.#heuristic,
      ...(this.#comments.length > 0 ? { comments: [...this.#comments] } : {}),
      ...this.#extras,
    };
    return buildScanMetadata(input, options);
  }
}

/** Starts a ScanMetadataBuilder. */
export function scanMetadata(): ScanMetadataBuilder {
  return new ScanMetadataBuilder();
}
