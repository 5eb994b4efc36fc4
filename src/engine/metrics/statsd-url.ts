/** A DogStatsD target `udp://HOST:PORT`, parsed without loading the StatsD client (flag declarations import nothing heavy). */

export interface StatsdTarget {
  host: string;
  port: number;
}

/** Parses `udp://HOST:PORT` (port 8125 when left out: the DogStatsD agent's); throws an Error saying what is wrong. */
export function parseStatsdUrl(text: string): StatsdTarget {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new Error('is not a URL (use udp://HOST:PORT, e.g. udp://127.0.0.1:8125)');
  }
  if (url.protocol !== 'udp:') throw new Error(`must be a udp:// URL, not ${url.protocol}// (e.g. udp://127.0.0.1:8125)`);
  if (!url.hostname) throw new Error('has no host (use udp://HOST:PORT)');
  if (url.pathname !== '' && url.pathname !== '/') throw new Error('must be udp://HOST:PORT, without a path');
  if (url.username || url.search || url.hash) throw new Error('must be udp://HOST:PORT, nothing else');
  const port = url.port === '' ? 8125 : Number(url.port);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port };
}
