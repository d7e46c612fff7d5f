import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCreateImage } from '../support/cli';
import { describeWith, rootUser, tool } from '../support/prereq';
import { startRegistry, TestRegistry } from '../support/registry';
import { rgwPrerequisites, useRgw } from '../support/rgw';
import { indexedNames, problemsWithIndex, readIndex } from '../support/s3-inspect';

const TIMESTAMP = '20261201.080000';

/**
 * One `create_image --publish` run of two build types: the store is made for the whole
 * run, so the docker image of the pair is pushed to the registry (and its index entry
 * names the pushed reference) like a docker image published alone.
 */
describeWith(
  'create_image --publish of an lxd and a docker image in one run (Ceph RGW + registry on loopback)',
  [...rgwPrerequisites, tool('mmdebstrap'), tool('skopeo'), tool('docker-registry'), rootUser()],
  () => {
    const rgw = useRgw(['mixed-images']);
    let registry: TestRegistry;
    let work: string;

    beforeAll(async () => {
      registry = await startRegistry();
      work = await mkdtemp(join(tmpdir(), 'tailor-publish-mixed-'));
    }, 90000);

    afterAll(async () => {
      await registry?.stop();
      if (work) await rm(work, { recursive: true, force: true });
    }, 30000);

    test('webapp is uploaded and indexed; dev-env is pushed, uploaded and indexed with its reference', async () => {
      const result = await runCreateImage(
        ['--name', 'webapp', '--name', 'dev-env', '--distribution', 'bookworm', '--publish', '--bucket', 'mixed-images',
          '--organization', 'acme', '--release-label', 'mixed', '--timestamp', TIMESTAMP, '--json',
          '--docker-registry', `http://${registry.address}`, '--work-dir', join(work, 'builds')],
        { env: { ...rgw.server.env, NODE_NO_WARNINGS: '1' }, cwd: work, timeoutMs: 1500000 },
      );
      expect({ code: result.code, stderr: result.code === 0 ? '' : result.stderr.slice(-2000) }).toEqual({ code: 0, stderr: '' });
      const summaries = JSON.parse(result.stdout) as { image_name: string; reference?: string }[];
      expect(summaries.map((s) => s.image_name)).toEqual([`acme_webapp_bookworm_mixed_${TIMESTAMP}`, `acme_dev-env_bookworm_mixed_${TIMESTAMP}`]);

      const tag = 'tailor-image-dev-env-bookworm-mixed';
      const tags = (await (await fetch(`${registry.url}/v2/acme/tags/list`)).json()) as { tags?: string[] };
      expect(tags.tags).toContain(tag);

      const index = await readIndex(rgw.s3, 'mixed-images', 'mixed');
      expect(indexedNames(index)).toEqual(summaries.map((s) => s.image_name).sort());
      const entry = index![TIMESTAMP].docker['dev-env'].bookworm;
      expect(entry.reference).toMatch(new RegExp(`^${registry.address.replace(/\./g, '\\.')}/acme@sha256:[0-9a-f]{64}$`));
      expect(summaries[1].reference).toBe(entry.reference);
      expect(index![TIMESTAMP].raw.webapp.bookworm.reference).toBeUndefined();
      expect(await problemsWithIndex(rgw.s3, 'mixed-images', 'mixed', index!)).toEqual([]);
    }, 1500000);
  },
);
