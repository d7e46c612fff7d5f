import { safeLine } from './message-text';

/**
 * The two ways a run can fail, and the exit code each one gives.
 *
 * UsageError: the invocation or the input it names is wrong (flags, names, recipes,
 * a rosdistro). Nothing has been done yet. Exit 2.
 * BuildError: the input is fine but the build could not be done (a missing host tool,
 * an unreachable mirror, an unwritable store, a failing command). Exit 1.
 *
 * Both carry a message that fits on one line and names the problem; the CLI prints
 * that line and never a stack trace.
 */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export class BuildError extends Error {
  readonly exitCode = 1;
  /** The last lines a failing command printed, shown with --verbose. */
  readonly detail?: string;
  constructor(message: string, detail?: string) {
    super(message);
    this.name = 'BuildError';
    this.detail = detail;
  }
}

/** Thrown when the run is interrupted (SIGINT/SIGTERM); exit 130 like a shell. */
export class InterruptedError extends Error {
  readonly exitCode = 130;
  constructor(signal: string) {
    super(`interrupted by ${signal}`);
    this.name = 'InterruptedError';
  }
}

export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError || error instanceof BuildError || error instanceof InterruptedError) {
    return error.exitCode;
  }
  return 1;
}

/**
 * One line, whatever the error: the first line of its message, fit for a terminal
 * (credentials in URLs redacted, control and bidi characters escaped, cut when long).
 */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const first = text.split('\n').find((line) => line.trim() !== '') ?? 'unknown error';
  return safeLine(first.trim());
}
