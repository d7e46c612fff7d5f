import { BuildLog } from '../core/log';

/**
 * A stack of undo actions (unmount, remove a work dir, stop a helper server). Stages push
 * what they must undo as soon as they have done it; the orchestrator runs the stack in
 * reverse order at the end, whether the build succeeded, failed or was interrupted.
 */
export class CleanupStack {
  private readonly actions: { label: string; action: () => Promise<void> | void }[] = [];

  push(label: string, action: () => Promise<void> | void): void {
    this.actions.push({ label, action });
  }

  /** Runs and forgets the newest action with this label (e.g. unmount before packing). */
  async runNow(label: string, log: BuildLog): Promise<void> {
    for (let i = this.actions.length - 1; i >= 0; i--) {
      if (this.actions[i].label === label) {
        const [entry] = this.actions.splice(i, 1);
        await runOne(entry, log, true);
        return;
      }
    }
  }

  /** Runs every action, newest first; a failing action is logged and the rest still run. */
  async runAll(log: BuildLog): Promise<void> {
    while (this.actions.length > 0) {
      const entry = this.actions.pop()!;
      await runOne(entry, log, false);
    }
  }
}

async function runOne(
  entry: { label: string; action: () => Promise<void> | void },
  log: BuildLog,
  rethrow: boolean,
): Promise<void> {
  try {
    log.debug(`cleanup: ${entry.label}`);
    await entry.action();
  } catch (error) {
    if (rethrow) throw error;
    log.warn(`cleanup "${entry.label}" failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
