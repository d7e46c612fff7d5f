import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localStreamImages, rewriteLocalStreams } from '../../lib/storage/local/local-streams';
import {
  buildStreamFiles,
  productKey,
  stableJson,
  StreamImage,
  streamImagesFromIndex,
  streamsDate,
} from '../../lib/storage/indexes/simplestreams';
import { TailorIndex } from '../../lib/storage/indexes/tailor-index';

const sha = (c: string) => c.repeat(64);

function image(timestamp: string, overrides: Partial<StreamImage> = {}): StreamImage {
  const imageName = `acme_webapp_bookworm_hotdog_${timestamp}`;
  return {
    name: 'webapp',
    distribution: 'bookworm',
    timestamp,
    releaseLabel: 'hotdog',
    imageName,
    path: `hotdog/images/${imageName}.tar.gz`,
    size: 1000,
    sha256: sha('a'),
    md5: 'f'.repeat(32),
    ...overrides,
  };
}

function files(images: StreamImage[]) {
  const out = buildStreamFiles(images);
  return {
    paths: out.map((f) => f.path),
    images: JSON.parse(out.find((f) => f.path === 'streams/v1/images.json')!.body),
    index: JSON.parse(out.find((f) => f.path === 'streams/v1/index.json')!.body),
    raw: out,
  };
}

describe('simplestreams files', () => {
  const two = [image('20261126.101500', { sha256: sha('1') }), image('20261126.111500', { sha256: sha('2') })];

  test('index.json names images.json and its products; images.json is written first', () => {
    const { paths, index } = files(two);
    expect(paths).toEqual(['streams/v1/images.json', 'streams/v1/index.json']);
    expect(index).toEqual({
      format: 'index:1.0',
      index: {
        images: {
          datatype: 'image-downloads',
          format: 'products:1.0',
          path: 'streams/v1/images.json',
          products: ['webapp:bookworm:default:amd64'],
          updated: 'Thu, 26 Nov 2026 11:15:00 +0000',
        },
      },
      updated: 'Thu, 26 Nov 2026 11:15:00 +0000',
    });
  });

  test('a product per name:distribution:variant:arch, with aliases and one version per build', () => {
    const { images } = files(two);
    expect(images).toMatchObject({ content_id: 'images', datatype: 'image-downloads', format: 'products:1.0' });
    const product = images.products['webapp:bookworm:default:amd64'];
    expect(product).toMatchObject({
      aliases: 'webapp/bookworm,webapp/bookworm/default',
      arch: 'amd64',
      os: 'webapp',
      release: 'bookworm',
      release_title: 'Debian 12 (bookworm)',
      variant: 'default',
      version: '12',
    });
    expect(Object.keys(product.versions)).toEqual(['20261126.101500', '20261126.111500']);
    const version = product.versions['20261126.111500'];
    expect(version.label).toBe('hotdog');
    expect(version.pubname).toBe('acme_webapp_bookworm_hotdog_20261126.111500');
    for (const ftype of ['lxd_combined.tar.gz', 'incus_combined.tar.gz']) {
      expect(version.items[ftype]).toEqual({
        ftype,
        path: 'hotdog/images/acme_webapp_bookworm_hotdog_20261126.111500.tar.gz',
        size: 1000,
        sha256: sha('2'),
        md5: 'f'.repeat(32),
        combined_sha256: sha('2'),
      });
    }
  });

  test('version keys start with YYYYMMDD and sort newest-last as strings (LXD takes the largest)', () => {
    const { images } = files([image('20261127.000000'), image('20261126.235959'), image('20251231.120000')]);
    const keys = Object.keys(images.products['webapp:bookworm:default:amd64'].versions);
    expect(keys).toEqual([...keys].sort());
    for (const key of keys) expect(key).toMatch(/^\d{8}/);
    expect(() => buildStreamFiles([image('2026-11-26')])).toThrow(/does not start with YYYYMMDD/);
  });

  test('deterministic: the same images in any order give byte-identical files', () => {
    const many = [
      image('20261126.101500', { sha256: sha('1') }),
      image('20261126.111500', { name: 'dev-env', imageName: 'acme_dev-env_jammy_hotdog_20261126.111500', distribution: 'jammy', path: 'hotdog/images/acme_dev-env_jammy_hotdog_20261126.111500.tar.gz' }),
      image('20261126.121500', { releaseLabel: 'iceberg', path: 'iceberg/images/x.tar.gz', sha256: sha('3') }),
    ];
    const a = buildStreamFiles(many).map((f) => f.body);
    const b = buildStreamFiles([...many].reverse()).map((f) => f.body);
    expect(b).toEqual(a);
    // Keys are sorted at every level.
    const text = a[0];
    expect(text).toBe(stableJson(JSON.parse(text)));
    expect(files(many).index.index.images.products).toEqual(['dev-env:jammy:default:amd64', 'webapp:bookworm:default:amd64']);
  });

  test('the same build time in two release labels keeps both versions', () => {
    const { images } = files([
      image('20261126.101500', { sha256: sha('1') }),
      image('20261126.101500', { releaseLabel: 'iceberg', path: 'iceberg/images/y.tar.gz', sha256: sha('2') }),
    ]);
    const versions = images.products['webapp:bookworm:default:amd64'].versions;
    expect(Object.keys(versions).sort()).toEqual(['20261126.101500', '20261126.101500-iceberg']);
    expect(versions['20261126.101500-iceberg'].label).toBe('iceberg');
  });

  test('no images: valid, empty files (LXD lists nothing)', () => {
    const { images, index } = files([]);
    expect(images.products).toEqual({});
    expect(index.index.images.products).toEqual([]);
    expect(index.updated).toBeUndefined();
  });

  test('helpers: productKey and streamsDate', () => {
    expect(productKey({ name: 'webapp', distribution: 'jammy' })).toBe('webapp:jammy:default:amd64');
    expect(productKey({ name: 'webapp', distribution: 'jammy', variant: 'cloud', arch: 'arm64' })).toBe('webapp:jammy:cloud:arm64');
    expect(streamsDate('20260102.030405')).toBe('Fri, 02 Jan 2026 03:04:05 +0000');
  });
});

describe('stream images from a tailor index', () => {
  const index: TailorIndex = {
    '20261126.101500': {
      raw: {
        webapp: {
          bookworm: { file: 'acme_webapp_bookworm_hotdog_20261126.101500', checksum: 'f'.repeat(32), artifact: 'acme_webapp_bookworm_hotdog_20261126.101500.tar.gz', sha256: sha('1'), size: 10, build_type: 'lxd' },
          jammy: { file: 'acme_webapp_jammy_hotdog_20261126.101500', checksum: 'e'.repeat(32) },
        },
        floor: {
          bookworm: { file: 'acme_floor_bookworm_hotdog_20261126.101500', checksum: 'd'.repeat(32), artifact: 'acme_floor_bookworm_hotdog_20261126.101500.raw.xz', sha256: sha('2'), size: 20, build_type: 'bare_metal' },
        },
      },
    },
  };

  test('only LXD entries that carry a sha256 and size, with paths under <label>/images/', () => {
    expect(streamImagesFromIndex(index, 'hotdog')).toEqual([
      {
        name: 'webapp',
        distribution: 'bookworm',
        timestamp: '20261126.101500',
        releaseLabel: 'hotdog',
        imageName: 'acme_webapp_bookworm_hotdog_20261126.101500',
        path: 'hotdog/images/acme_webapp_bookworm_hotdog_20261126.101500.tar.gz',
        size: 10,
        sha256: sha('1'),
        md5: 'f'.repeat(32),
      },
    ]);
  });

  test('rewriteLocalStreams lists every release label of a local store', async () => {
    const root = mkdtempSync(join(tmpdir(), 'streams-unit-'));
    try {
      for (const label of ['hotdog', 'iceberg']) {
        mkdirSync(join(root, label, 'images'), { recursive: true });
        const relabelled = JSON.parse(JSON.stringify(index).replaceAll('hotdog', label));
        writeFileSync(join(root, label, 'images', 'index.json'), JSON.stringify(relabelled));
      }
      expect(localStreamImages(root).map((i) => i.path)).toEqual([
        'hotdog/images/acme_webapp_bookworm_hotdog_20261126.101500.tar.gz',
        'iceberg/images/acme_webapp_bookworm_iceberg_20261126.101500.tar.gz',
      ]);
      const written = await rewriteLocalStreams(root);
      expect(readdirSync(join(root, 'streams', 'v1')).sort()).toEqual(['images.json', 'index.json']);
      for (const file of written) expect(readFileSync(join(root, file.path), 'utf8')).toBe(file.body);
      // Rewriting unchanged indexes gives the same bytes, also when rewrites run at once.
      const again = await Promise.all(Array.from({ length: 5 }, () => rewriteLocalStreams(root)));
      for (const files of again) expect(files.map((f) => f.body)).toEqual(written.map((f) => f.body));
      expect(readdirSync(join(root, 'streams', 'v1')).sort()).toEqual(['images.json', 'index.json']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
