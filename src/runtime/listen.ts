/** Listening for `serve` and `start`: listhen for serve, the errors a port can give, a connectable URL, the banner. */
import type { Server } from 'node:http';
import { UsageError } from '../util/errors.js';
import { flushLogs, theme, type Logger } from '../util/logger.js';
import { packageInfo } from '../util/package.js';
import { otherLiveServe, type EngineProject } from '../util/project.js';

export interface Listening {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** A URL a client can use: `0.0.0.0`/`::` accept connections, they are not addresses to connect to. */
export function connectableUrl(url: string): string {
  const u = new URL(url);
  if (u.hostname === '0.0.0.0') u.hostname = '127.0.0.1';
  else if (u.hostname === '[::]') u.hostname = '[::1]';
  u.pathname = '/';
  return u.href;
}

export function listenError(error: unknown, host: string, port: number, origin?: string, project?: EngineProject): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE') {
    const other = project ? otherLiveServe(project.dir) : null;
    const by = other && new URL(other.url).port === String(port) ? ` by this project's other \`serve\` (pid ${other.pid})` : '';
    return new UsageError(`port ${port} on ${host}${origin ? ` (from ${origin})` : ''} is already in use${by}`, {
      hint: 'Stop the process using it, or pick another port with --port (or PORT); 0 picks a free one.',
    });
  }
  if (code === 'EACCES') {
    return new UsageError(`not allowed to listen on port ${port} on ${host}`, {
      hint: 'Ports below 1024 need privileges; use --port 3000.',
    });
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new UsageError(`cannot listen on ${host}: no such local address`, {
      hint: 'Use --host 127.0.0.1, or 0.0.0.0 for every interface.',
    });
  }
  return error;
}

/**
 * serve: listhen, wrapped around the engine's node handler. When the default port is taken listhen moves to a free
 * one (said in a warning and in the banner); a port the user named (`explicit`) is that port or an error.
 */
export async function listenForDevelopment(
  handler: Parameters<typeof import('listhen').listen>[0],
  host: string,
  port: number,
  logger: Logger,
  explicit: boolean,
): Promise<Listening> {
  const { listen } = await import('listhen');
  const listener = await listen(handler, {
    // verbose off: a port taken is reported below, through the logger, like everything else.
    port: { port, verbose: false },
    hostname: host,
    showURL: false,
    // listhen's own SIGINT/SIGTERM handling calls process.exit; shutdown belongs to the process host.
    autoClose: false,
    open: false,
    clipboard: false,
    qr: false,
    isTest: false,
    isProd: false,
  });
  const bound = listener.address.port;
  if (port !== 0 && bound !== port) {
    if (explicit) {
      await listener.close();
      throw Object.assign(new Error(`port ${port} is in use`), { code: 'EADDRINUSE' });
    }
    logger.warn(`port ${port} is in use: listening on ${bound} instead`, {
      hint: 'pick a port with --port (or PORT); a port you name is never swapped',
    });
  }
  return { url: listener.url, server: listener.server as Server, close: () => listener.close() };
}

export function printBanner(out: NodeJS.WritableStream, fields: [string, string][]): void {
  const lines = [`${theme.bold('polyswarm-engine serve')} ${theme.dim(`v${packageInfo().version}`)}`];
  for (const [key, value] of fields) lines.push(`  ${theme.dim(key.padEnd(8))} ${value}`);
  flushLogs();
  out.write(`${lines.join('\n')}\n\n`);
}
