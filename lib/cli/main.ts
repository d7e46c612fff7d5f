import { CommanderError } from 'commander';
import { BuildError, InterruptedError, UsageError, exitCodeOf, oneLine } from '../core/errors';
import { safeLine } from '../core/message-text';

/**
 * Runs a command's body and turns whatever happens into an exit code and at most one
 * error line on stderr: `<command>: error: <what is wrong>`. No stack traces. With
 * --verbose, a failing command's last output lines follow the error line.
 *
 * SIGINT/SIGTERM abort the signal handed to the body, so it can kill children and run
 * its cleanups before the process exits (130): whatever the body throws once the signal
 * is aborted (an aborted mirror check, a killed command) counts as the interruption.
 */
export async function runMain(
  command: string,
  body: (signal: AbortSignal) => Promise<number>,
  options: { verbose?: () => boolean } = {},
): Promise<number> {
  // The AWS SDK prints a multi-line notice about Node 20 on every client; errors stay one line.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(`${command}: ${signal} again, exiting without cleanup\n`);
      process.exit(130);
    }
    process.stderr.write(`${command}: ${signal} received, cleaning up...\n`);
    controller.abort(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A reader that goes away (`| head`) is not an error.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      // Nowhere left to print to: leave quietly (1 unless the reader just went away).
      process.exit(error.code === 'EPIPE' ? (process.exitCode ?? 0) : 1);
    });
  }
  try {
    return await body(controller.signal);
  } catch (thrown) {
    if (thrown instanceof CommanderError) {
      // commander has already printed its own line (help, version or a usage error).
      return thrown.exitCode === 0 ? 0 : 2;
    }
    const error = controller.signal.aborted && !(thrown instanceof InterruptedError)
      ? new InterruptedError(String(controller.signal.reason))
      : thrown;
    process.stderr.write(`${command}: error: ${oneLine(error)}\n`);
    if (error instanceof BuildError && error.detail && options.verbose?.()) {
      process.stderr.write(`${error.detail.split('\n').map((line) => safeLine(line)).join('\n')}\n`);
    }
    if (!(error instanceof UsageError) && !(error instanceof BuildError) && process.env.TAILOR_IMAGE_DEBUG) {
      process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    }
    return exitCodeOf(error);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
