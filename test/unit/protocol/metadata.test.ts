import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { buildScanMetadata, hostEnvironment, scanMetadata, ScanMetadataBuilder } from '../../../src/protocol/metadata.js';

const ENV = { operating_system: 'Linux', architecture: 'x86_64' };

const emptyScanner = (environment = ENV) => ({
  version: null,
  polyswarmclient_version: null,
  vendor_version: null,
  signatures_version: null,
  environment,
});

describe('hostEnvironment', () => {
  it("names this host like Python's platform module", () => {
    const env = hostEnvironment();
    expect(env.operating_system).toBe(os.type());
    const expected = { x64: 'x86_64', arm64: 'aarch64', ia32: 'i686' }[os.arch() as string] ?? os.arch();
    expect(env.architecture).toBe(expected);
    expect(env.architecture).not.toBe('x64');
  });
});

describe('buildScanMetadata', () => {
  it('emits the six keys in order, with defaults, for no input', () => {
    for (const input of [undefined, null, {}]) {
      const metadata = buildScanMetadata(input, { environment: ENV });
      expect(metadata).toEqual({
        malware_family: '',
        domains: [],
        ip_addresses: [],
        stix: [],
        scanner: emptyScanner(),
        heuristic: null,
      });
      expect(Object.keys(metadata)).toEqual(['malware_family', 'domains', 'ip_addresses', 'stix', 'scanner', 'heuristic']);
    }
  });

  it("fills scanner.environment from this host's by default", () => {
    expect(buildScanMetadata().scanner?.environment).toEqual(hostEnvironment());
    expect(buildScanMetadata(null, { environment: { architecture: 'riscv64' } }).scanner?.environment).toEqual({
      operating_system: os.type(),
      architecture: 'riscv64',
    });
  });

  it('keeps given values, extra keys after the six, and given environment values over the defaults', () => {
    const input = {
      comments: ['SKIPPED:TIMEOUT'],
      malware_family: 'EICAR-Test-File',
      heuristic: true,
      product: 'eicar',
      scanner: { vendor_version: '1.2', environment: { architecture: 'arm', cpu: 'm1' }, extra: 1 },
      domains: ['example.com'],
      ip_addresses: ['127.0.0.1'],
      stix: [{ schema: 'yara', signature: 'rule x {}' }],
    };
    const metadata = buildScanMetadata(input, { environment: ENV });
    expect(Object.keys(metadata)).toEqual([
      'malware_family',
      'domains',
      'ip_addresses',
      'stix',
      'scanner',
      'heuristic',
      'comments',
      'product',
    ]);
    expect(metadata).toEqual({
      ...input,
      scanner: {
        version: null,
        polyswarmclient_version: null,
        vendor_version: '1.2',
        signatures_version: null,
        environment: { operating_system: 'Linux', architecture: 'arm', cpu: 'm1' },
        extra: 1,
      },
    });
    expect(Object.keys(metadata.scanner ?? {})).toEqual([
      'version',
      'polyswarmclient_version',
      'vendor_version',
      'signatures_version',
      'environment',
      'extra',
    ]);
    expect(Object.keys(metadata.scanner?.environment ?? {})).toEqual(['operating_system', 'architecture', 'cpu']);
  });

  it('always makes scanner an object, and fills null environment values', () => {
    const metadata = buildScanMetadata({ scanner: null }, { environment: ENV });
    expect(metadata.scanner).toEqual(emptyScanner());
    const nulls = buildScanMetadata({ scanner: { environment: { operating_system: null, architecture: null } } }, { environment: ENV });
    expect(nulls.scanner?.environment).toEqual(ENV);
  });

  it('keeps explicit nulls the schema allows', () => {
    const metadata = buildScanMetadata({ domains: null, ip_addresses: null, stix: null, heuristic: null }, { environment: ENV });
    expect(metadata).toMatchObject({ domains: null, ip_addresses: null, stix: null, heuristic: null });
  });

  it('does not mutate or share the input', () => {
    const input = { domains: ['a.example'], scanner: { version: '1.0', environment: { architecture: 'arm' } } };
    const snapshot = structuredClone(input);
    const metadata = buildScanMetadata(input, { environment: ENV });
    expect(input).toEqual(snapshot);
    metadata.domains?.push('b.example');
    expect(input.domains).toEqual(['a.example']);
    expect(metadata.scanner).not.toBe(input.scanner);
  });

  it('keeps a __proto__ extra key as data, not as a prototype', () => {
    const input = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    const metadata = buildScanMetadata(input, { environment: ENV });
    expect(Object.keys(metadata)).toContain('__proto__');
    expect((metadata as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
  });
});

describe('scanMetadata builder', () => {
  it('builds complete metadata fluently', () => {
    const metadata = scanMetadata()
      .malwareFamily('EICAR-Test-File')
      .scanner({ vendor_version: '1.2' })
      .scanner({ signatures_version: '2024.1', environment: { architecture: 'arm64' } })
      .domains(['a.example'])
      .domains(['b.example'])
      .ipAddresses(['10.0.0.1', '::1'])
      .stix({ schema: 'yara', signature: 'rule x {}' })
      .heuristic(true)
      .comment('first')
      .comment('second')
      .extra('product', 'eicar')
      .build({ environment: ENV });
    expect(metadata).toEqual({
      malware_family: 'EICAR-Test-File',
      domains: ['a.example', 'b.example'],
      ip_addresses: ['10.0.0.1', '::1'],
      stix: [{ schema: 'yara', signature: 'rule x {}' }],
      scanner: {
        version: null,
        polyswarmclient_version: null,
        vendor_version: '1.2',
        signatures_version: '2024.1',
        environment: { operating_system: 'Linux', architecture: 'arm64' },
      },
      heuristic: true,
      comments: ['first', 'second'],
      product: 'eicar',
    });
  });

  it('builds the defaults when nothing is set, and is a ScanMetadataBuilder', () => {
    const builder = scanMetadata();
    expect(builder).toBeInstanceOf(ScanMetadataBuilder);
    expect(builder.build({ environment: ENV })).toEqual(buildScanMetadata({}, { environment: ENV }));
    expect(builder.build()).not.toHaveProperty('comments');
  });

  it('returns independent results from repeated builds', () => {
    const builder = scanMetadata().domains(['a.example']);
    const first = builder.build();
    first.domains?.push('x');
    expect(builder.build().domains).toEqual(['a.example']);
  });
});
