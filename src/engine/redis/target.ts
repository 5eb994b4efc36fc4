/**
 * Where the queue lives: `redis://` URLs parsed into ioredis options, with a display form that never shows a password.
 */
import type { RedisOptions } from 'ioredis';
import { UsageError } from '../../util/errors.js';

/** Where the queue lives: ioredis options from a `redis://` URL, and a display form without the password. */
export interface RedisTarget {
  /** The URL with any password masked, for logs and messages. */
  display: string;
  options: RedisOptions;
}

const URL_HINT = 'Use --queue redis://host:port[/db] (or set POLYSWARM_QUEUE_URL), e.g. redis://127.0.0.1:6379/0.';

/**
 * Parses `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS). Throws a UsageError that says what
 * is wrong with the value.
 */
export function parseRedisUrl(value: string): RedisTarget {
  // Messages quote the value, but never a password in it.
  const shown = JSON.stringify(value.trim().replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@'));
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim())) {
    throw new UsageError(`Queue URL ${shown} has no scheme`, {
      hint: /^[\w.-]+(:\d+)?(\/\d+)?$/.test(value.trim()) ? `Did you mean redis://${value.trim()}?` : URL_HINT,
    });
  }
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new UsageError(`Queue URL ${shown} is not a URL`, { hint: URL_HINT });
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new UsageError(`Queue URL ${shown}: ${url.protocol}// is not supported, only redis:// and rediss://`, {
      hint: URL_HINT,
    });
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new UsageError(`Queue URL ${shown} has no host`, { hint: URL_HINT });
  const port = url.port === '' ? 6379 : Number(url.port);
  const path = url.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,5}$/.test(path)) {
    throw new UsageError(`Queue URL ${shown}: the database ${JSON.stringify(path)} is not a number`, { hint: URL_HINT });
  }
  const db = path === '' ? 0 : Number(path);
  if (url.search !== '' || url.hash !== '') {
    throw new UsageError(`Queue URL ${shown}: query strings and fragments are not supported`, { hint: URL_HINT });
  }
  const options: RedisOptions = { host, port, db };
  if (url.username) options.username = decodeURIComponent(url.username);
  if (url.password) options.password = decodeURIComponent(url.password);
  if (url.protocol === 'rediss:') options.tls = {};
  const auth = url.username || url.password ? `${url.username}${url.password ? ':***' : ''}@` : '';
  return { display: `${url.protocol}//${auth}${url.host}/${db}`, options };
}
