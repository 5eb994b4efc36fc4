/**
 * The process host for `serve`, `start` and `worker`: one policy for signals, shutdown, the `ready` line and errors
 * that escape the author's code. A second SIGINT/SIGTERM stops at once (exit 130); a stop past the grace (plus a
 * slack for answers on their way) is cut, exit 1, as is a stop that fails: a process manager must see it. An error
 * thrown in a timer or an unawaited promise of the scan code is logged; it never takes the process (and its
 * bounties) down.
 */
import { errorMessage, ExitCode } from '../util/errors.js';
import { flushLogs, type LogFields, type Logger } from '../util/logger.js';

/** What a hosted service offers the host. */
export interface HostedService {
  /** Resolves once the service takes work; the host then prints the `ready` line. Should not reject. */
  ready(): Promise<void>;
  /** The `ready` line's fields (url, queue, pid…). */
  readyFields(): LogFields;
  /** Graceful stop within `graceMs`; resolves when nothing is left to wait for. */
  stop(graceMs: number): Promise<void>;
  /** After a second signal or a stop past its grace: drop what is left, now. Synchronous. */
  abort(): void;
}

export interface HostOptions {
  logger: Logger;
  /** The ready line is what `test` and process managers wait for: it is printed whatever the log level says. */
  readyLog: Logger;
  graceMs: number;
  /** `serve` is run by a person at a terminal: its stop message mentions Ctrl-C. */
  interactive: boolean;
  /** What emits signals and uncaught errors (default `process`). */
  signals?: NodeJS.Process;
  /** Synchronous clean-up that must run however the process ends (the serve state file). */
  onExit?: () => void;
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
/** Past the grace period, how long answers already being posted may still take before the host cuts the stop. */
export const STOP_SLACK_MS = 3000;

/** The first frame outside node's internals, as `file:line:col`, for a one-line log of an uncaught error. */
export function firstFrame(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const frame = error.stack?.split('\n').find((l) => /^\s+at /.test(l) && !l.includes('node:internal'));
  return frame?.trim().replace(/^at /, '');
}

/**
 * Hosts a service until SIGINT/SIGTERM: builds it, prints `ready` once it is, stops it gracefully on the first
 * signal; resolves to the exit code. Errors thrown while building it propagate (usage errors).
 */
export async function hostProcess(build: () => Promise<HostedService>, options: HostOptions): Promise<number> {
  const proc = options.signals ?? process;
  const { logger } = options;
  const onUncaught = (error: unknown) => {
    logger.error('uncaught error in scan code; the process keeps running', { error: errorMessage(error), at: firstFrame(error) });
  };
  let signalCount = 0;
  let firstSignal: (signal: string) => void = () => {};
  let secondSignal: () => void = () => {};
  const stopRequested = new Promise<string>((resolve) => (firstSignal = resolve));
  const hardStop = new Promise<typeof ExitCode.INTERRUPTED>((resolve) => (secondSignal = () => resolve(ExitCode.INTERRUPTED)));
  const onSignal = (signal: string) => {
    signalCount++;
    if (signalCount === 1) firstSignal(signal);
    else secondSignal();
  };
  const onExit = () => options.onExit?.();
  proc.on('uncaughtException', onUncaught);
  proc.on('unhandledRejection', onUncaught);
  proc.on('exit', onExit);
  let service: HostedService | undefined;
  try {
    for (const s of SIGNALS) proc.on(s, onSignal);
    service = await build();
    const stoppedEarly = await Promise.race([service.ready().then(() => false), stopRequested.then(() => true)]);
    if (!stoppedEarly) {
      options.readyLog.info('ready', service.readyFields());
      flushLogs();
    }
    const signal = await stopRequested;
    logger.info('stopping', {
      signal,
      grace_ms: options.graceMs,
      ...(options.interactive ? { hint: 'finishing accepted bounties; press Ctrl-C again to stop now' } : {}),
    });
    return await stopWithin(service, options, hardStop);
  } finally {
    for (const s of SIGNALS) proc.off(s, onSignal);
    proc.off('uncaughtException', onUncaught);
    proc.off('unhandledRejection', onUncaught);
    proc.off('exit', onExit);
    onExit();
  }
}

async function stopWithin(service: HostedService, options: HostOptions, hardStop: Promise<number>): Promise<number> {
  const { logger } = options;
  let timer: NodeJS.Timeout | undefined;
  const cut = new Promise<'cut'>((resolve) => {
    timer = setTimeout(() => resolve('cut'), options.graceMs + STOP_SLACK_MS);
  });
  const graceful = service.stop(options.graceMs).then(
    () => ExitCode.OK as number,
    (error: unknown) => {
      logger.error('shutdown failed', { error: errorMessage(error), at: firstFrame(error) });
      return ExitCode.CHECK_FAILED as number;
    },
  );
  try {
    const outcome = await Promise.race([graceful, hardStop, cut]);
    if (outcome === 'cut') {
      logger.error('shutdown did not finish within the grace period; stopping now', { grace_ms: options.graceMs });
      service.abort();
      return ExitCode.CHECK_FAILED;
    }
    if (outcome === ExitCode.INTERRUPTED) {
      logger.warn('second signal; stopping now');
      service.abort();
    }
    return outcome;
  } finally {
    clearTimeout(timer);
    flushLogs();
  }
}
