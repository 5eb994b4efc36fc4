/**
 * Where the queue lives: `redis://` URLs parsed into ioredis options, with a display form that never shows a password.
 */
import type { RedisOptions } from 'ioredis';
import { EngineError } from '../errors.js';

/** Where the queue lives: ioredis options from a `redis://` URL, and a display form without the password. */
export interface RedisTarget {
  /** The URL with any password masked, for logs and messages. */
  display: string;
  options: RedisOptions;
}

/** A queue URL that cannot be used: QUEUE_URL_INVALID, with the value (password masked) and a suggestion when there is one. */
function invalid(shown: string, reason: string, suggestion?: string): EngineError {
  const message = `Queue URL ${shown}${reason.startsWith(':') ? '' : ' '}${reason}`;
  return new EngineError('QUEUE_URL_INVALID', message, {
    url: shown,
    reason: reason.replace(/^: /, ''),
    ...(suggestion ? { suggestion } : {}),
  });
}

/**
 * Parses `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS). Throws QUEUE_URL_INVALID saying what
 * is wrong with the value.
 */
export function parseRedisUrl(value: string): RedisTarget {
  // Messages quote the value, but never a password in it.
  const shown = JSON.stringify(value.trim().replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@'));
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim())) {
    throw invalid(shown, 'has no scheme', /^[\w.-]+(:\d+)?(\/\d+)?$/.test(value.trim()) ? `redis://${value.trim()}` : undefined);
  }
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw invalid(shown, 'is not a URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw invalid(shown, `: ${url.protocol}// is not supported, only redis:// and rediss://`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw invalid(shown, 'has no host');
  const port = url.port === '' ? 6379 : Number(url.port);
  const path = url.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,5}$/.test(path)) {
    throw invalid(shown, `: the database ${JSON.stringify(path)} is not a number`);
  }
  const db = path === '' ? 0 : Number(path);
  if (url.search !== '' || url.hash !== '') {
    throw invalid(shown, ': query strings and fragments are not supported');
  }
  const options: RedisOptions = { host, port, db };
  if (url.username) options.username = decodeURIComponent(url.username);
  if (url.password) options.password = decodeURIComponent(url.password);
  if (url.protocol === 'rediss:') options.tls = {};
  const auth = url.username || url.password ? `${url.username}${url.password ? ':***' : ''}@` : '';
  return { display: `${url.protocol}//${auth}${url.host}/${db}`, options };
}
