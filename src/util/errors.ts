/** Exit codes, owned by `src/cli.ts`; layers and commands throw the typed errors below, never exit themselves. */
export const ExitCode = {
  OK: 0,
  /** A check failed: an invalid document, a failing conformance case. */
  CHECK_FAILED: 1,
  /** The command line, a flag value, a file or the project is not usable as given. */
  USAGE: 2,
  /** The target engine or service could not be reached. */
  UNREACHABLE: 3,
  /** Interrupted by the user (Ctrl-C). */
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface CliErrorOptions {
  exitCode?: number;
  /** One line telling the user what to do about it. */
  hint?: string;
  cause?: unknown;
}

/** An error meant for a person: the CLI prints `message` and `hint`, never a stack (unless DEBUG=polyswarm*). */
export class CliError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  constructor(message: string, options: CliErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = options.exitCode ?? ExitCode.CHECK_FAILED;
    this.hint = options.hint;
  }
}

/** Bad flags, arguments, files or project layout: exit 2. */
export class UsageError extends CliError {
  constructor(message: string, options: Omit<CliErrorOptions, 'exitCode'> = {}) {
    super(message, { ...options, exitCode: ExitCode.USAGE });
    this.name = 'UsageError';
  }
}

/** The engine (or Redis, or another service) does not answer: exit 3. */
export class UnreachableError extends CliError {
  constructor(message: string, options: Omit<CliErrorOptions, 'exitCode'> = {}) {
    super(message, { ...options, exitCode: ExitCode.UNREACHABLE });
    this.name = 'UnreachableError';
  }
}

/** The message of anything thrown, for logs and `metadata.comments`. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
