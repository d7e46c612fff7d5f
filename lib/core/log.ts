/**
 * What the builder reports while it works. The CLI decides how it looks (a live stage
 * display on a terminal, timestamped lines in CI logs, JSON); the builder only says what
 * happens. Nothing secret is ever passed here.
 */
export interface BuildLog {
  /** A stage begins (bootstrap, provision, ...). */
  stageStart(stage: string, detail?: string): void;
  /** A stage ended; `ok` false when it failed. */
  stageEnd(stage: string, ok: boolean): void;
  info(message: string): void;
  warn(message: string): void;
  /** Shown with --verbose only: commands run and what they print. */
  debug(message: string): void;
  /**
   * Bytes done (of `total`, when known) of a long step named `what` (e.g. "xz wrangler.raw",
   * "upload x.raw.xz"); called often, the display throttles. Optional: logs may ignore it.
   */
  progress?(what: string, done: number, total?: number): void;
}

/** A log that drops everything (library use, tests). */
export const silentLog: BuildLog = {
  stageStart: () => undefined,
  stageEnd: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  debug: () => undefined,
};
