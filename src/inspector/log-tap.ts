/**
 * The scan's log lines, for the inspector: a Logger that forwards everything to the real one and also hands each
 * line written by a logger bound to a bounty (the pipeline's `logger.child({ bounty })`, which the scan gets as
 * `ctx.log`) to `onLine`, whatever the log level, so the page shows them beside the bounty.
 */
import type { LogFields, Logger, LogLevel } from '../util/logger.js';

export type LineLevel = Exclude<LogLevel, 'silent'>;

export function tapLogger(logger: Logger, onLine: (bounty: string, level: LineLevel, message: string, fields?: LogFields) => void): Logger {
  const wrap = (base: Logger, bounty: string | undefined): Logger => {
    // Lines not bound to a bounty (every delivery's line, the engine's own) go straight to the real logger: the
    // inspector only wants a bounty's lines, and the request path should not pay a wrapper call for the rest.
    const line = (level: LineLevel) =>
      bounty === undefined
        ? base[level].bind(base)
        : (message: string, fields?: LogFields) => {
            onLine(bounty, level, message, fields);
            base[level](message, fields);
          };
    return {
      get level() {
        return base.level;
      },
      get format() {
        return base.format;
      },
      debug: line('debug'),
      info: line('info'),
      warn: line('warn'),
      error: line('error'),
      child: (fields) => wrap(base.child(fields), typeof fields.bounty === 'string' ? fields.bounty : bounty),
    };
  };
  return wrap(logger, undefined);
}
