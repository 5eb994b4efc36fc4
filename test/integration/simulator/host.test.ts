import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatorHost, resolveCallbackAddress, urlHost } from '../../../src/simulator/host.js';
import { testEngine, type CallbackInfo } from '../../../src/simulator/run.js';
import { UsageError } from '../../../src/util/errors.js';
// @ts-expect-error plain .mjs fixtures, no types
import { startEngine } from '../../fixtures/engines/engine.mjs';

const SECRET = 'qwertyuiop';
const FILE = { bytes: new TextEncoder().encode('hello'), mimetype: 'text/plain' };

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.map((close) => close()));
  closers = [];
});

async function started(address: ConstructorParameters<typeof SimulatorHost>[0]): Promise<SimulatorHost> {
  const host = new SimulatorHost(address);
  await host.start();
  closers.push(() => host.close());
  return host;
}

async function fixture(): Promise<string> {
  const engine = (await startEngine({ secret: SECRET })) as { url: string; close(): Promise<void> };
  closers.push(() => engine.close());
  return engine.url;
}

/** A GET to host:port with a 2 s deadline: the status, or the network error's code. */
function probe(host: string, port: number, path: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}

const usage = (fn: () => unknown): UsageError => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error('expected a UsageError');
};

describe('resolveCallbackAddress', () => {
  it('defaults to loopback on a free port, advertised as itself', () => {
    expect(resolveCallbackAddress()).toEqual({ listenHost: '127.0.0.1', advertiseHost: '127.0.0.1', port: 0 });
    expect(resolveCallbackAddress({ listenHost: '127.0.0.2' })).toEqual({ listenHost: '127.0.0.2', advertiseHost: '127.0.0.2', port: 0 });
    expect(resolveCallbackAddress({ listenHost: '[::1]', port: 8081 })).toEqual({ listenHost: '::1', advertiseHost: '::1', port: 8081 });
  });

  it('advertises 127.0.0.1 for "every interface", since nothing can connect to 0.0.0.0 or ::', () => {
    for (const listenHost of ['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0']) {
      expect(resolveCallbackAddress({ listenHost }).advertiseHost, listenHost).toBe('127.0.0.1');
    }
    expect(resolveCallbackAddress({ listenHost: '0.0.0.0', advertiseHost: 'host.docker.internal' }).advertiseHost).toBe(
      'host.docker.internal',
    );
    expect(resolveCallbackAddress({ listenHost: '0.0.0.0', advertiseHost: '[fd00::2]' }).advertiseHost).toBe('fd00::2');
    expect(resolveCallbackAddress({ advertiseHost: 'my_engine_host' }).advertiseHost).toBe('my_engine_host');
  });

  it('brackets IPv6 literals for URLs, and only those', () => {
    expect(urlHost('::1')).toBe('[::1]');
    expect(urlHost('172.17.0.1')).toBe('172.17.0.1');
    expect(urlHost('host.docker.internal')).toBe('host.docker.internal');
  });

  it('refuses values that cannot work, naming the flag', () => {
    expect(usage(() => resolveCallbackAddress({ listenHost: 'not a host!' })).message).toBe(
      '--listen-host "not a host!": expected an interface address or host name',
    );
    expect(usage(() => resolveCallbackAddress({ listenHost: '' })).message).toBe(
      '--listen-host "": expected an interface address or host name',
    );
    const withPort = usage(() => resolveCallbackAddress({ advertiseHost: 'host.docker.internal:8080' }));
    expect(withPort.message).toBe('--advertise-host "host.docker.internal:8080": a host only, without a port');
    expect(withPort.hint).toBe('Set the port with --callback-port.');
    expect(usage(() => resolveCallbackAddress({ advertiseHost: 'http://172.17.0.1/' })).message).toBe(
      '--advertise-host "http://172.17.0.1/": expected a host name or an IP address the engine can reach, e.g. host.docker.internal or 172.17.0.1',
    );
    // Looks like a name, but a URL reads it as an IPv4 address out of range.
    expect(usage(() => resolveCallbackAddress({ advertiseHost: '300.1.1.1' })).message).toMatch(
      /^--advertise-host "300\.1\.1\.1": expected a host name or an IP address/,
    );
    expect(usage(() => resolveCallbackAddress({ advertiseHost: '0.0.0.0' })).message).toBe(
      '--advertise-host "0.0.0.0": that means "every interface", which nothing can connect to',
    );
    expect(usage(() => resolveCallbackAddress({ advertiseHost: '::' })).message).toBe(
      '--advertise-host "::": that means "every interface", which nothing can connect to',
    );
    expect(usage(() => resolveCallbackAddress({ advertiseHost: 'fe80::1%eth0' })).message).toBe(
      '--advertise-host "fe80::1%eth0": an IPv6 address with a zone id cannot be put in a URL',
    );
    for (const port of [-1, 65536, 1.5, Number.NaN]) {
      expect(usage(() => resolveCallbackAddress({ port })).message).toBe(
        `--callback-port must be a whole number between 0 and 65535, got ${port}`,
      );
    }
  });
});

describe('SimulatorHost on another loopback address', () => {
  it('by default: 127.0.0.1, a free port, isDefault', async () => {
    const host = await started(undefined);
    expect(host.isDefault).toBe(true);
    expect(host.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(host.listenAddress).toBe(host.baseUrl.slice('http://'.length));
  });

  it('--listen-host 127.0.0.2 binds that address only, and its URLs say so', async () => {
    const host = await started({ listenHost: '127.0.0.2' });
    const port = Number(new URL(host.baseUrl).port);
    expect(host.isDefault).toBe(false);
    expect(host.baseUrl).toBe(`http://127.0.0.2:${port}`);
    const url = host.host(FILE);
    expect(url).toMatch(new RegExp(`^http://127\\.0\\.0\\.2:${port}/artifacts/[-0-9a-f]{36}$`));
    expect(host.isHosted(url)).toBe(true);
    expect(host.answerUrl()).toMatch(new RegExp(`^http://127\\.0\\.0\\.2:${port}/answers/`));
    const path = new URL(url).pathname;
    expect(await probe('127.0.0.2', port, path)).toBe(200);
    expect(host.downloadCount(url)).toBe(1);
    // Not on 127.0.0.1: the bind really is the address asked for.
    expect(await probe('127.0.0.1', port, path)).toBe('ECONNREFUSED');
    expect(host.downloadCount(url)).toBe(1);
  });

  it('--listen-host ::1 advertises a bracketed URL that matches what it serves', async () => {
    const host = await started({ listenHost: '::1' });
    const port = Number(new URL(host.baseUrl).port);
    expect(host.baseUrl).toBe(`http://[::1]:${port}`);
    expect(host.listenAddress).toBe(`[::1]:${port}`);
    const url = host.host(FILE);
    expect(url.startsWith(`http://[::1]:${port}/artifacts/`)).toBe(true);
    expect(host.isHosted(url)).toBe(true);
    // The same artifact under the long IPv6 spelling is still ours (URLs are compared as parsed).
    expect(host.isHosted(url.replace('[::1]', '[0:0:0:0:0:0:0:1]'))).toBe(true);
    expect(host.isHosted(url.replace('[::1]', '127.0.0.1'))).toBe(false);
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('hello');
  });

  it('--callback-port binds that port; a port in use or an address this machine lacks is a UsageError', async () => {
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => busy.close(() => resolve())));
    const taken = (busy.address() as AddressInfo).port;

    const inUse = new SimulatorHost({ port: taken });
    const error = await inUse.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe(`--callback-port ${taken}: already in use on 127.0.0.1`);

    // The same port on another loopback address is free: a fixed port is honoured exactly.
    const host = await started({ listenHost: '127.0.0.2', port: taken });
    expect(host.baseUrl).toBe(`http://127.0.0.2:${taken}`);
    expect(host.isDefault).toBe(false);

    // 192.0.2.1 is TEST-NET-1, never a local address: the bind fails locally, nothing is sent anywhere.
    const missing = await new SimulatorHost({ listenHost: '192.0.2.1' }).start().catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(UsageError);
    expect((missing as UsageError).message).toBe('--listen-host 192.0.2.1: no such address on this machine, cannot listen on 192.0.2.1:0');
  });
});

describe('testEngine with listenHost / advertiseHost / callbackPort', () => {
  it('the engine downloads from and answers to 127.0.0.2, and the EICAR case passes', async () => {
    const url = await fixture();
    const traced: string[] = [];
    const listening: CallbackInfo[] = [];
    const report = await testEngine({
      url,
      secret: SECRET,
      bounty: { artifact: 'eicar', expirationMs: 3000 },
      listenHost: '127.0.0.2',
      advertiseHost: '127.0.0.2',
      onListening: (info) => listening.push(info),
      trace: (line) => traced.push(line),
    });
    expect(listening).toEqual([
      { url: expect.stringMatching(/^http:\/\/127\.0\.0\.2:\d+$/), listen: expect.stringMatching(/^127\.0\.0\.2:\d+$/), isDefault: false },
    ]);
    const base = listening[0].url;
    expect(report).toMatchObject({ ok: true, cases: [{ name: 'bounty: EICAR', ok: true, answer: { verdict: 'malicious' } }] });
    const sent = traced.find((line) => line.includes('"artifact_uri"'))!;
    expect(sent).toContain(`"artifact_uri":"${base}/artifacts/`);
    expect(sent).toContain(`"response_url":"${base}/answers/`);
    expect(traced).toContainEqual(
      expect.stringMatching(new RegExp(`⇐ artifact downloaded 1 time from ${base.replace(/\./g, '\\.')}/artifacts/`)),
    );
    expect(traced).toContainEqual(expect.stringMatching(/⇐ answer 1 posted to response_url/));
  });

  it('an advertised address the engine cannot reach fails with what was advertised and where it listened', async () => {
    const report = await testEngine({
      url: await fixture(),
      secret: SECRET,
      bounty: { expirationMs: 1000 },
      listenHost: '127.0.0.2',
      advertiseHost: '127.0.0.3',
    });
    expect(report.ok).toBe(false);
    const [noAnswer, hint] = report.cases[0].messages;
    expect(noAnswer).toMatch(/^no answer arrived at response_url before the bounty's expiration/);
    expect(hint).toMatch(
      /^the engine never downloaded the artifact from http:\/\/127\.0\.0\.3:(\d+)\/artifacts\/[-0-9a-f]+: the simulator listens on 127\.0\.0\.2:\1 and told the engine to use http:\/\/127\.0\.0\.3:\1; check that the engine/,
    );
  });

  it('bad callback options are a UsageError', async () => {
    const url = await fixture();
    await expect(testEngine({ url, secret: SECRET, suite: 'ping', callbackPort: 70000 })).rejects.toThrow(
      '--callback-port must be a whole number between 0 and 65535, got 70000',
    );
    await expect(testEngine({ url, secret: SECRET, suite: 'ping', advertiseHost: '0.0.0.0' })).rejects.toBeInstanceOf(UsageError);
  });
});

describe('SimulatorHost: artifact faults and answer listeners', () => {
  it('hostFault answers 404 or 500 with JSON, resets, or hangs; every attempt is counted', async () => {
    const host = await started({});
    const port = Number(new URL(host.baseUrl).port);
    const path = (url: string) => new URL(url).pathname;
    const notFound = host.hostFault(404);
    expect(await probe('127.0.0.1', port, path(notFound))).toBe(404);
    expect(await probe('127.0.0.1', port, path(host.hostFault(500)))).toBe(500);
    expect(await probe('127.0.0.1', port, path(host.hostFault('reset')))).toBe('ECONNRESET');
    expect(await probe('127.0.0.1', port, path(host.hostFault('hang')))).toBe('ETIMEDOUT');
    expect(host.downloadCount(notFound)).toBe(1);
    expect(host.isHosted(notFound)).toBe(true);
    host.unhost(notFound);
    expect(host.isHosted(notFound)).toBe(false);
  });

  it('answerUrl(listener) hands each answer over and keeps none; a released URL answers 404', async () => {
    const host = await started({});
    const got: string[] = [];
    const url = host.answerUrl((answer) => got.push(answer.bytes.toString()));
    const post = (body: string) => fetch(url, { method: 'POST', body }).then((r) => r.status);
    expect(await post('{"verdict":"unknown"}')).toBe(200);
    expect(await post('again')).toBe(200);
    expect(got).toEqual(['{"verdict":"unknown"}', 'again']);
    expect(host.answersAt(url)).toEqual([]);
    host.releaseAnswerUrl(url);
    expect(await post('late')).toBe(404);
  });
});
