/**
 * Where the queue lives: a `redis://`, `rediss://` or `redis+sentinel://` URL (and the TLS files beside it) parsed into
 * ioredis options, with a display form that never shows a password.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { RedisOptions } from 'ioredis';
import { errorMessage } from '../../util/errors.js';
import { EngineError } from '../errors.js';

/** Where the queue lives: ioredis options from a queue URL, and a display form without the password. */
export interface RedisTarget {
  /** The URL with any password masked, for logs and messages. */
  display: string;
  /** For one node (or the cluster node named), or for the master a Sentinel names (`sentinels`, `name`). */
  options: RedisOptions;
  /** The server is a Redis Cluster node (preflight finds out): connect through ioredis' Cluster, hash-tag the keys. */
  cluster?: boolean;
  /** Replicas that must acknowledge a stored bounty (WAIT) before its 202; undefined: 1 when the master has one. */
  replicas?: number;
  /** The TLS files given, to name the one at fault when a connection fails on a certificate. */
  tlsFiles?: TlsFiles;
}

/** PEM files for a TLS connection: the CA that signed the server's certificate, and this client's certificate and key. */
export interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

/** The keys' namespace for a queue: hash-tagged on a cluster, so all of a queue's keys share one slot. */
export const keyspace = (queueName: string, target: RedisTarget): string => (target.cluster ? `{${queueName}}` : queueName);

/** A queue URL that cannot be used: QUEUE_URL_INVALID, with the value (password masked) and a suggestion when there is one. */
function invalid(shown: string, reason: string, suggestion?: string): EngineError {
  const message = `Queue URL ${shown}${reason.startsWith(':') ? '' : ' '}${reason}`;
  return new EngineError('QUEUE_URL_INVALID', message, {
    url: shown,
    reason: reason.replace(/^: /, ''),
    ...(suggestion ? { suggestion } : {}),
  });
}

/** A TLS file that cannot be used: QUEUE_TLS_INVALID naming the file and what is wrong with it. */
export function tlsInvalid(file: string, role: keyof TlsFiles, reason: string): EngineError {
  const what = { ca: 'CA certificate', cert: 'client certificate', key: 'client key' }[role];
  return new EngineError('QUEUE_TLS_INVALID', `TLS ${what} ${file}: ${reason}`, { file, role, reason });
}

/** Reads the TLS files into ioredis' `tls` options; throws QUEUE_TLS_INVALID for one unreadable or not PEM. */
function tlsOptions(files: TlsFiles): NonNullable<RedisOptions['tls']> {
  const tls: Record<string, Buffer> = {};
  for (const role of ['ca', 'cert', 'key'] as const) {
    const file = files[role];
    if (file === undefined) continue;
    try {
      tls[role] = readFileSync(file);
    } catch (error) {
      throw tlsInvalid(file, role, `cannot be read (${errorMessage(error)})`);
    }
  }
  if ((files.cert === undefined) !== (files.key === undefined)) {
    const [given, role] = files.cert ? [files.cert, 'cert' as const] : [files.key!, 'key' as const];
    throw tlsInvalid(given, role, `is given without the client ${role === 'cert' ? 'key' : 'certificate'}`);
  }
  // Node checks PEM and that the key fits the certificate here, at once, rather than on each connection attempt.
  for (const [role, context] of [
    ['ca', { ca: tls.ca }],
    ['cert', { cert: tls.cert, key: tls.key }],
  ] as const) {
    if (!files[role]) continue;
    try {
      createSecureContext(context);
    } catch (error) {
      throw tlsInvalid(files[role]!, role, errorMessage(error));
    }
  }
  return tls;
}

/**
 * Parses `redis://[user:password@]host[:port][/db]` (`rediss://` for TLS; any node of a cluster), or
 * `redis+sentinel://[user:password@]host:port,host:port/master[/db]` (`rediss+sentinel://`: TLS to the Sentinels and
 * the master alike; the user and password are the master's). `tls` names PEM files for a TLS URL. Throws
 * QUEUE_URL_INVALID saying what is wrong with the value, QUEUE_TLS_INVALID for a TLS file.
 */
export function parseRedisUrl(value: string, extra: TlsFiles & { replicas?: number } = {}): RedisTarget {
  const trimmed = value.trim();
  // Messages quote the value, but never a password in it.
  const shown = JSON.stringify(trimmed.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@'));
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    throw invalid(shown, 'has no scheme', /^[\w.-]+(:\d+)?(\/\d+)?$/.test(trimmed) ? `redis://${trimmed}` : undefined);
  }
  const sentinel = /^(rediss?)\+sentinel:\/\/(?:([^@/]*)@)?([^@/]*)\/([^/]*)(?:\/([^/]*))?$/i.exec(trimmed);
  // The WHATWG parser takes one host; a Sentinel URL's list of hosts is parsed here, each as one redis:// URL.
  const url = parseUrl(sentinel ? `${sentinel[1]}://${sentinel[2] ? `${sentinel[2]}@` : ''}sentinel/${sentinel[5] ?? ''}` : trimmed, shown);
  if (!sentinel && url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw invalid(shown, `: ${url.protocol}// is not supported, only redis:// and rediss:// (or redis+sentinel://, rediss+sentinel://)`);
  }
  const path = url.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,5}$/.test(path)) {
    throw invalid(shown, `: the database ${JSON.stringify(path)} is not a number`);
  }
  const db = path === '' ? 0 : Number(path);
  if (url.search !== '' || url.hash !== '') {
    throw invalid(shown, ': query strings and fragments are not supported');
  }
  const secure = url.protocol === 'rediss:';
  const options: RedisOptions = { db };
  if (url.username) options.username = decodeURIComponent(url.username);
  if (url.password) options.password = decodeURIComponent(url.password);
  if (secure) options.tls = tlsOptions(extra);
  else if (extra.ca ?? extra.cert ?? extra.key) {
    const [role, file] = Object.entries(extra).find(([k, v]) => k !== 'replicas' && v !== undefined) as [keyof TlsFiles, string];
    throw tlsInvalid(file, role, `is given, but the queue URL ${shown} does not use TLS (rediss://)`);
  }
  const auth = url.username || url.password ? `${url.username}${url.password ? ':***' : ''}@` : '';
  let where: string;
  if (sentinel) {
    const name = decodeURIComponent(sentinel[4]!);
    if (name === '') throw invalid(shown, ': no master name after the Sentinels, e.g. redis+sentinel://h1:26379,h2:26379/mymaster');
    const hosts = sentinel[3]!.split(',').map((host) => {
      const node = parseUrl(`redis://${host.trim()}`, shown);
      if (node.hostname === '' || node.pathname.replace(/^\//, '') !== '')
        throw invalid(shown, `: the Sentinel ${JSON.stringify(host)} is not host:port`);
      return { host: node.hostname.replace(/^\[(.*)\]$/, '$1'), port: node.port === '' ? 26379 : Number(node.port) };
    });
    // No `failoverDetector` (ioredis' default): its +switch-master handler can disconnect a connection that is already
    // reconnecting, and ioredis then ends it for good ("Connection is closed" from then on). The old master's sockets
    // close at a failover anyway: killed, or demoted by the Sentinels (Redis drops its clients on a role change).
    Object.assign(options, { sentinels: hosts, name });
    if (secure) Object.assign(options, { enableTLSForSentinelMode: true, sentinelTLS: options.tls });
    where = `${sentinel[1]!.toLowerCase()}+sentinel://${auth}${sentinel[3]}/${name}/${db}`;
  } else {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === '') throw invalid(shown, 'has no host');
    Object.assign(options, { host, port: url.port === '' ? 6379 : Number(url.port) });
    where = `${url.protocol}//${auth}${url.host}/${db}`;
  }
  const tlsFiles = secure && (extra.ca ?? extra.cert) ? { ca: extra.ca, cert: extra.cert, key: extra.key } : undefined;
  return { display: where, options, replicas: extra.replicas, ...(tlsFiles ? { tlsFiles } : {}) };
}

function parseUrl(value: string, shown: string): URL {
  try {
    return new URL(value);
  } catch {
    throw invalid(shown, 'is not a URL');
  }
}
