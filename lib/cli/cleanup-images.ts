import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { BuildLog } from '../core/log';
import { checkNameField } from '../core/naming';
import { UsageError } from '../core/errors';
import { CleanupReport } from '../storage/retention/cleanup-report';
import { localImagesDir } from '../storage/local/layout';
import { cleanupLocal } from '../storage/local/local-cleanup';
import { OpenPgpSigner } from '../storage/signing/openpgp-signer';
import { SHA256SUMS_SIGNATURE } from '../storage/signing/release-sums';
import { RetentionPolicy } from '../storage/retention/retention';
import { createS3Client } from '../core/s3-client';
import { cleanupS3 } from '../storage/s3/s3-cleanup';
import { bucketOfS3Url, objectKey } from '../storage/s3/s3-keys';
import { headOrUndefined } from '../storage/s3/s3-objects';
import { describeS3Error } from '../storage/s3/s3-store';
import { BuildError } from '../core/errors';
import { quote } from '../core/message-text';
import { commanderErrorOutput, refuseRepeatedFlags } from './flags';
import { runMain } from './main';
import packageJson from '../../package.json';

interface CleanupOptions {
  releaseLabel: string;
  aptRepo?: string;
  localStoragePath?: string;
  organization: string;
  daysToKeep?: string;
  numToKeep?: string;
  cloudfrontDistributionId?: string;
  dryRun?: boolean;
  json?: boolean;
  signingKey?: string;
}

const EXAMPLES = `
Examples:
  cleanup_images --release-label hotdog --apt-repo s3://acme-images --organization acme --num-to-keep 5 --dry-run
  cleanup_images --release-label hotdog --local-storage-path ./images --organization acme --days-to-keep 30

Images are judged per (name, distribution, extension), newest first: --num-to-keep N keeps
the newest N, --days-to-keep D keeps anything younger than D days (both at least 1); with
both, an image goes only when neither keeps it. Exit codes: 0 done, 1 failed, 2 bad usage.`;

export function cleanupImagesCommand(version: string): Command {
  const command = new Command('cleanup_images')
    .description('Remove images past a retention policy from a published release (S3) or a local store.')
    .version(version, '-V, --version')
    .requiredOption('--release-label <label>', 'release whose images are cleaned up')
    .requiredOption('--organization <org>', 'only images of this organization')
    .option('--apt-repo <s3-url>', 'the bucket images are published to, as s3://<bucket>')
    .option('--local-storage-path <path>', 'a local store instead of S3')
    .option('--days-to-keep <n>', 'keep images younger than N days (at least 1)')
    .option('--num-to-keep <n>', 'keep the newest N images of each name, distribution and kind (at least 1)')
    .option('--cloudfront-distribution-id <id>', 'invalidate the index on this distribution afterwards')
    .option('--signing-key <file>', "the release's OpenPGP signing key: a signed local release gets its SHA256SUMS rewritten and re-signed")
    .option('--dry-run', 'change nothing; print what would be removed')
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText('after', EXAMPLES)
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput(commanderErrorOutput('cleanup_images'));
  return refuseRepeatedFlags(command);
}

/** A policy count: a whole number, at least 1 (0 would remove every image). */
function count(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const unit = flag.includes('days') ? 'days' : 'images';
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag} ${quote(value)} is not a whole number of ${unit}`);
  const n = Number(value);
  if (n < 1) throw new UsageError(`${flag} ${n} would remove every image: keep at least 1 (remove a release's images yourself if that is meant)`);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${flag} ${quote(value)} is too large`);
  return n;
}

const stderrLog: BuildLog = {
  stageStart: () => undefined,
  stageEnd: () => undefined,
  info: (m) => process.stderr.write(`${m}\n`),
  warn: (m) => process.stderr.write(`warning: ${m}\n`),
  debug: () => undefined,
};

export function formatReport(report: CleanupReport): string {
  const verb = report.dryRun ? 'would remove' : 'removed';
  const lines = report.removed.map((item) => {
    const versions = item.versions > item.objects.length ? `, ${item.versions} versions` : '';
    const amis = item.amis?.length ? `; AMIs and snapshots ${item.amis.join(', ')}` : '';
    return `${verb} ${item.imageName} (${item.objects.length} files${versions}${amis})`;
  });
  lines.push(`${report.removed.length} of ${report.considered} image(s) ${verb === 'removed' ? 'removed' : 'would be removed'} from ${report.location}${report.dryRun ? ' (dry run: nothing changed)' : ''}`);
  return `${lines.join('\n')}\n`;
}

export function cleanupImagesMain(argv: string[]): Promise<number> {
  return runMain('cleanup_images', async (signal) => {
    const command = cleanupImagesCommand(packageJson.version);
    command.parse(argv, { from: 'user' });
    const options = command.opts<CleanupOptions>();
    const releaseLabel = checkNameField('release-label', options.releaseLabel);
    const organization = checkNameField('organization', options.organization);
    if (Boolean(options.aptRepo) === Boolean(options.localStoragePath)) {
      throw new UsageError('give exactly one of --apt-repo s3://<bucket> and --local-storage-path <path>');
    }
    if (options.cloudfrontDistributionId !== undefined && !options.aptRepo) {
      throw new UsageError('--cloudfront-distribution-id needs --apt-repo s3://<bucket> (a local store has no CloudFront)');
    }
    const policy: RetentionPolicy = {
      daysToKeep: count('--days-to-keep', options.daysToKeep),
      numToKeep: count('--num-to-keep', options.numToKeep),
      now: new Date(),
    };
    if (policy.daysToKeep === undefined && policy.numToKeep === undefined) {
      throw new UsageError('give --days-to-keep and/or --num-to-keep (without a policy nothing would be removed)');
    }
    const dryRun = Boolean(options.dryRun);
    let report: CleanupReport;
    if (options.aptRepo) {
      const bucket = bucketOfS3Url(options.aptRepo);
      const client = createS3Client();
      try {
        const signed = (await headOrUndefined(client, bucket, objectKey(releaseLabel, SHA256SUMS_SIGNATURE), signal)) !== undefined;
        if (signed && !options.signingKey && !dryRun) throw new UsageError(`s3://${bucket}/${objectKey(releaseLabel, '')} is a signed release (${SHA256SUMS_SIGNATURE}): give --signing-key to re-sign it after the cleanup`);
        const signer = options.signingKey ? await OpenPgpSigner.fromFile(options.signingKey, stderrLog) : undefined;
        report = await cleanupS3({
          signer,
          client, bucket, releaseLabel, organization, policy, dryRun, log: stderrLog, signal,
          cloudfrontDistributionId: options.cloudfrontDistributionId,
        });
      } catch (error) {
        if (signal.aborted || error instanceof UsageError) throw error;
        throw new BuildError(`cleanup of s3://${bucket}/${releaseLabel}/images failed: ${describeS3Error(error)}`);
      } finally {
        client.destroy();
      }
    } else {
      const imagesDir = localImagesDir(options.localStoragePath!, releaseLabel);
      if (!existsSync(imagesDir)) throw new UsageError(`--local-storage-path ${quote(options.localStoragePath)} holds no release "${releaseLabel}" (no ${imagesDir})`);
      const signed = existsSync(join(imagesDir, SHA256SUMS_SIGNATURE));
      if (signed && !options.signingKey && !dryRun) throw new UsageError(`${imagesDir} is a signed release (${SHA256SUMS_SIGNATURE}): give --signing-key to re-sign it after the cleanup`);
      const signer = options.signingKey ? await OpenPgpSigner.fromFile(options.signingKey, stderrLog) : undefined;
      report = await cleanupLocal({ root: options.localStoragePath!, releaseLabel, organization, policy, dryRun, log: stderrLog, signer });
    }
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return 0;
  });
}
