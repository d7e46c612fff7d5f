import { BuildLog } from '../core/log';
import { formatProgress, TenthsThrottle } from './byte-progress';
import { escapeControls } from '../core/message-text';
import { redactUrls } from '../core/redact';

export type Verbosity = 'quiet' | 'normal' | 'verbose';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** What a log line shows of a message: URLs redacted, nothing that could redraw the terminal. */
function clean(text: string): string {
  return escapeControls(redactUrls(text));
}

/**
 * A BuildLog that draws the build for people: live on a terminal, timestamped lines
 * elsewhere. Every message is shown cleaned (credentials in URLs hidden, even in --verbose
 * command lines; control characters escaped).
 */
export interface ProgressDisplay extends BuildLog {
  /** Stops the live display (always call before printing the result). */
  close(): void;
}

export function createProgress(
  stream: NodeJS.WriteStream,
  verbosity: Verbosity,
  live = Boolean(stream.isTTY) && process.env.TERM !== 'dumb',
): ProgressDisplay {
  return live ? new LiveDisplay(stream, verbosity) : new LineDisplay(stream, verbosity);
}

/** Plain lines with an ISO timestamp, for CodeBuild and other logs. */
class LineDisplay implements ProgressDisplay {
  private readonly started = new Map<string, number>();
  private readonly transfers = new Map<string, { start: number; throttle: TenthsThrottle }>();

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly verbosity: Verbosity,
  ) {}

  private line(text: string): void {
    this.stream.write(`${new Date().toISOString()} ${clean(text)}\n`);
  }

  stageStart(stage: string, detail?: string): void {
    this.started.set(stage, Date.now());
    if (this.verbosity !== 'quiet') this.line(`${stage}: started${detail ? ` (${detail})` : ''}`);
  }

  stageEnd(stage: string, ok: boolean): void {
    const seconds = seconds1(Date.now() - (this.started.get(stage) ?? Date.now()));
    if (this.verbosity !== 'quiet' || !ok) this.line(`${stage}: ${ok ? 'done' : 'FAILED'} in ${seconds} s`);
  }

  info(message: string): void {
    if (this.verbosity !== 'quiet') this.line(message);
  }

  warn(message: string): void {
    this.line(`warning: ${message}`);
  }

  debug(message: string): void {
    if (this.verbosity === 'verbose') this.line(message);
  }

  /** One line per tenth of the total (or per 256 MiB when there is none). */
  progress(what: string, done: number, total?: number): void {
    if (this.verbosity === 'quiet') return;
    let transfer = this.transfers.get(what);
    if (!transfer) this.transfers.set(what, (transfer = { start: Date.now(), throttle: new TenthsThrottle() }));
    if (transfer.throttle.next(done, total)) this.line(`${what}: ${formatProgress(done, total, Date.now() - transfer.start)}`);
  }

  close(): void {}
}

/** One live line for the running stage (spinner + elapsed), finished stages above it. */
class LiveDisplay implements ProgressDisplay {
  private current?: { stage: string; detail?: string; start: number };
  /** The running stage's long step, shown instead of its detail while it goes. */
  private transfer?: { what: string; done: number; total?: number; start: number };
  private timer?: NodeJS.Timeout;
  private frame = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly verbosity: Verbosity,
  ) {}

  private clear(): void {
    this.stream.write('\r\x1b[2K');
  }

  private draw(): void {
    if (!this.current) return;
    const { stage, detail, start } = this.current;
    const spinner = SPINNER[this.frame++ % SPINNER.length];
    const { transfer } = this;
    const shown = transfer ? `${clean(transfer.what)}: ${formatProgress(transfer.done, transfer.total, Date.now() - transfer.start)}` : (detail ?? '');
    const text = `${spinner} ${stage.padEnd(10)} ${seconds1(Date.now() - start).padStart(6)} s  ${shown}`;
    this.clear();
    this.stream.write(text.slice(0, Math.max(20, (this.stream.columns ?? 80) - 1)));
  }

  private above(text: string): void {
    this.clear();
    this.stream.write(`${clean(text)}\n`);
    this.draw();
  }

  stageStart(stage: string, detail?: string): void {
    this.current = { stage, detail: detail === undefined ? undefined : clean(detail), start: Date.now() };
    if (this.verbosity === 'quiet') return;
    this.draw();
    this.timer ??= setInterval(() => this.draw(), 100);
  }

  stageEnd(stage: string, ok: boolean): void {
    const start = this.current?.start ?? Date.now();
    this.current = undefined;
    this.transfer = undefined;
    if (this.verbosity === 'quiet' && ok) return;
    this.clear();
    this.stream.write(`${ok ? '✓' : '✗'} ${stage.padEnd(10)} ${seconds1(Date.now() - start).padStart(6)} s\n`);
  }

  info(message: string): void {
    if (this.verbosity !== 'quiet') this.above(`  ${message}`);
  }

  warn(message: string): void {
    this.above(`! warning: ${message}`);
  }

  debug(message: string): void {
    if (this.verbosity === 'verbose') this.above(`    ${message}`);
  }

  /** Redrawn by the stage's timer: bytes done of the total, rate and time left. */
  progress(what: string, done: number, total?: number): void {
    if (this.transfer?.what !== what) this.transfer = { what, done, total, start: Date.now() };
    else Object.assign(this.transfer, { done, total });
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.current) this.clear();
  }
}

function seconds1(ms: number): string {
  return (ms / 1000).toFixed(1);
}
