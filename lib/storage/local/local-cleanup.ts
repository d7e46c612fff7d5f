import { readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BuildLog } from '../../core/log';
import { CleanupReport } from '../retention/cleanup-report';
import { LOCAL_INDEX_FILE, localImagesDir } from './layout';
import { readLocalIndex, updateLocalIndex, withLocalIndex } from './local-index';
import { OpenPgpSigner } from '../signing/openpgp-signer';
import { signLocalRelease } from '../signing/release-sums';
import { rewriteLocalStreams } from './local-streams';
import { expiredEntries, ofOrganization, RetentionPolicy } from '../retention/retention';
import { listEntries, withoutImages } from '../indexes/tailor-index';

export interface LocalCleanupOptions {
  /** The local storage path (holding <release_label>/images/). */
  root: string;
  releaseLabel: string;
  organization: string;
  policy: RetentionPolicy;
  dryRun: boolean;
  log: BuildLog;
  /** A signed release's key: SHA256SUMS is rewritten and re-signed after the files go. */
  signer?: OpenPgpSigner;
}

/**
 * Removes the images past a retention policy from a local store: first their index
 * entries (under the index lock, atomically replaced), then the simplestreams files
 * rewritten from the indexes, then the image files, so nothing names a file that is gone.
 */
export async function cleanupLocal(options: LocalCleanupOptions): Promise<CleanupReport> {
  const imagesDir = localImagesDir(options.root, options.releaseLabel);
  const index = readLocalIndex(imagesDir);
  const candidates = ofOrganization(listEntries(index), options.organization);
  const expired = expiredEntries(candidates, options.policy);
  const names = await readdir(imagesDir).catch(() => [] as string[]);
  const report: CleanupReport = {
    location: resolve(imagesDir, LOCAL_INDEX_FILE),
    dryRun: options.dryRun,
    considered: candidates.length,
    removed: expired.map(({ slot, entry }) => ({
      imageName: entry.file,
      timestamp: slot.timestamp,
      name: slot.name,
      distribution: slot.distribution,
      objects: names.filter((n) => n.startsWith(`${entry.file}.`)).sort().map((n) => join(imagesDir, n)),
      versions: 0,
    })),
  };
  if (options.dryRun || expired.length === 0) return report;

  const gone = new Set(expired.map((e) => e.entry.file));
  await updateLocalIndex(imagesDir, (current) => withoutImages(current, gone));
  // The simplestreams files the local store keeps beside the indexes (local-streams.ts)
  // must stop naming the images before their files go.
  await rewriteLocalStreams(options.root);
  for (const item of report.removed) for (const path of item.objects) await rm(path, { force: true });
  const { signer } = options;
  if (signer) await withLocalIndex(imagesDir, () => signLocalRelease(imagesDir, LOCAL_INDEX_FILE, signer, options.log));
  options.log.info(`removed ${expired.length} image(s) from ${imagesDir}`);
  return report;
}
