/** The one place that turns the engine's coded errors into a CLI error: a hint naming the flag, and the exit code. */
import { isEngineError, type EngineError } from '../engine/errors.js';
import { CliError, ExitCode, UsageError, UnreachableError } from '../util/errors.js';

const QUEUE_URL_HINT = 'Use --queue redis://host:port[/db] (or set POLYSWARM_QUEUE_URL), e.g. redis://127.0.0.1:6379/0.';

/** The hint for an engine error, in the words of the command line. */
function hintFor(error: EngineError): string | undefined {
  const data = error.data as Record<string, string | number | undefined>;
  switch (error.code) {
    case 'JOURNAL_LOCKED':
      return 'Stop it, or give this one its own folder with --state-dir (POLYSWARM_STATE_DIR), or pass --queue memory.';
    case 'JOURNAL_UNAVAILABLE':
      return 'Make the folder writable, or choose another with --state-dir (POLYSWARM_STATE_DIR).';
    case 'JOURNAL_DAMAGED':
      return `Move ${data.path ?? 'the journal file'} aside (its bounties cannot be read back) and start again, or start on a fresh folder with --state-dir.`;
    case 'QUEUE_URL_INVALID':
      return data.suggestion ? `Did you mean ${data.suggestion}?` : QUEUE_URL_HINT;
    case 'QUEUE_TLS_INVALID':
      return 'Give Redis’s CA with --queue-ca (POLYSWARM_QUEUE_CA), and a client certificate with --queue-cert and --queue-key (POLYSWARM_QUEUE_CERT, POLYSWARM_QUEUE_KEY) if Redis asks for one; files are PEM.';
    case 'QUEUE_EVICTS':
      return 'Set `maxmemory-policy noeviction` (redis.conf, or CONFIG SET maxmemory-policy noeviction): a full Redis then makes the engine answer 503, and PolySwarm sends the bounty again later.';
    case 'QUEUE_OWNED':
      return `Run ${data.role === 'worker' ? 'the worker' : 'it'} from the ${JSON.stringify(data.owner)} project, or give each engine its own queue with --queue-name (POLYSWARM_QUEUE_NAME). If ${JSON.stringify(data.owner)} no longer uses this queue: redis-cli HDEL ${data.registry} ${data.queueName}`;
    case 'QUEUE_SHARED':
      return 'Give each engine its own Redis (or its own redis-server process), or run this one where the other does not; a Redis without maxmemory may be shared. An engine that stopped counts as running for 30 s.';
    case 'QUEUE_UNREACHABLE':
      return 'Is Redis running at the --queue URL (POLYSWARM_QUEUE_URL)?';
    case 'SCAN_MODULE_INVALID':
      return (error as EngineError & { hint?: string }).hint;
    default:
      return undefined;
  }
}

/** A CliError for anything the engine library threw with a code; anything else is returned as it is. */
export function toCliError(error: unknown): unknown {
  if (error instanceof CliError || !isEngineError(error)) return error;
  const hint = hintFor(error);
  if (error.code === 'QUEUE_UNREACHABLE') return new UnreachableError(error.message, { hint, cause: error });
  if (error.code === 'INVALID_OPTION') return new CliError(error.message, { exitCode: ExitCode.USAGE, cause: error });
  return new UsageError(error.message, { hint, cause: error });
}
