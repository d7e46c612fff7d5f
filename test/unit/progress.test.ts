import { PassThrough } from 'node:stream';
import { createProgress } from '../../lib/cli/progress';

function capture(verbosity: 'quiet' | 'normal' | 'verbose', live: boolean) {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const progress = createProgress(stream, verbosity, live);
  return { progress, text: () => text };
}

describe('progress display', () => {
  test('off a terminal: one timestamped line per stage start and end, with the time taken', () => {
    const { progress, text } = capture('normal', false);
    progress.stageStart('bootstrap', 'bookworm, 8 packages');
    progress.debug('$ mmdebstrap ...');
    progress.stageEnd('bootstrap', true);
    progress.info('image written');
    const lines = text().trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z bootstrap: started \(bookworm, 8 packages\)$/);
    expect(lines[1]).toMatch(/Z bootstrap: done in \d+\.\d s$/);
    expect(lines[2]).toMatch(/Z image written$/);
  });

  test('--verbose adds the commands; --quiet keeps only warnings and failures', () => {
    const verbose = capture('verbose', false);
    verbose.progress.debug('$ mmdebstrap ...');
    expect(verbose.text()).toContain('$ mmdebstrap ...');

    const quiet = capture('quiet', false);
    quiet.progress.stageStart('pack');
    quiet.progress.stageEnd('pack', true);
    quiet.progress.info('hello');
    quiet.progress.stageStart('store');
    quiet.progress.stageEnd('store', false);
    quiet.progress.warn('disk almost full');
    expect(quiet.text().trim().split('\n').map((l) => l.replace(/^\S+ /, ''))).toEqual([
      'store: FAILED in 0.0 s',
      'warning: disk almost full',
    ]);
  });

  test('on a terminal: a live line for the running stage, a tick with the time when it ends', () => {
    const { progress, text } = capture('normal', true);
    progress.stageStart('bootstrap', 'bookworm');
    progress.stageEnd('bootstrap', true);
    progress.close();
    expect(text()).toMatch(/⠋ bootstrap +\d+\.\d s {2}bookworm/);
    expect(text()).toMatch(/✓ bootstrap +\d+\.\d s\n/);
  });
});
