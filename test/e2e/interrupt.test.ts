import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/cli';
import { describeWith, rootUser, tool } from '../support/prereq';

const CATALOG = join(REPO_ROOT, 'test', 'fixtures', 'catalog-small');

/** Runs create_image, sends SIGINT once `trigger` appears on stderr (plus a delay). */
function interruptWhen(args: string[], trigger: RegExp, delayMs: number) {
  return new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'create_image.js'), ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      if (!sent && trigger.test(stderr)) {
        sent = true;
        setTimeout(() => child.kill('SIGINT'), delayMs);
      }
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describeWith('Ctrl-C during a build', [rootUser(), tool('mmdebstrap')], () => {
  test.each([
    ['bootstrap (mmdebstrap running)', /bootstrap: started/, 4000, ['--no-cache']],
    ['provision', /provision: started/, 0, []],
  ])('during %s: exit 130, no mounts, no work dir, nothing stored', async (_, trigger, delay, extra) => {
    const workRoot = mkdtempSync(join(tmpdir(), 'work-'));
    const store = mkdtempSync(join(tmpdir(), 'int-store-'));
    try {
      const result = await interruptWhen(
        ['--name', 'tiny-a', '--distribution', 'bookworm', '--recipes-path', CATALOG, '--work-dir', workRoot,
          '--local-storage', '--no-test', '--local-storage-path', store, ...extra],
        trigger,
        delay,
      );
      expect(result.stderr).toMatch(/SIGINT received, cleaning up/);
      expect(result.code).toBe(130);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(workRoot);
      expect(readdirSync(workRoot)).toEqual([]);
      expect(existsSync(join(store, 'hotdog'))).toBe(false);
    } finally {
      rmSync(workRoot, { recursive: true, force: true });
      rmSync(store, { recursive: true, force: true });
    }
  }, 5 * 60 * 1000);
});
