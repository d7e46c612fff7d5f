import { s3ClientConfig, customS3Endpoint } from '../../lib/core/s3-client';
import { bucketOfS3Url, entryKey, imageNameOfEntryKey, indexKey, objectKey } from '../../lib/storage/s3/s3-keys';
import { contentTypeOf, describeS3Error } from '../../lib/storage/s3/s3-store';
import { UsageError } from '../../lib/core/errors';

describe('S3 configuration from the standard chain', () => {
  test('AWS itself: SDK defaults (virtual-host addressing, checksums when supported)', () => {
    expect(s3ClientConfig({ AWS_REGION: 'eu-west-1' })).toEqual({ maxAttempts: 5 });
  });

  test('a custom endpoint: path style and checksums only when required', () => {
    for (const env of [{ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000' }, { AWS_ENDPOINT_URL: 'http://127.0.0.1:9000' }]) {
      expect(customS3Endpoint(env)).toBe('http://127.0.0.1:9000');
      expect(s3ClientConfig(env)).toMatchObject({
        endpoint: 'http://127.0.0.1:9000',
        forcePathStyle: true,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        region: 'us-east-1',
      });
    }
    expect(s3ClientConfig({ AWS_ENDPOINT_URL_S3: 'http://x', AWS_REGION: 'eu-west-1' }).region).toBeUndefined();
  });
});

describe('S3 keys', () => {
  test('layout', () => {
    expect(objectKey('hotdog', 'a_b_c_hotdog_20260101.000000.tar.gz')).toBe('hotdog/images/a_b_c_hotdog_20260101.000000.tar.gz');
    expect(indexKey('hotdog')).toBe('hotdog/images/index');
    expect(entryKey('hotdog', 'img')).toBe('hotdog/images/entries/img.json');
    expect(imageNameOfEntryKey('hotdog/images/entries/img.json', 'hotdog')).toBe('img');
    expect(imageNameOfEntryKey('hotdog/images/entries/x/y.json', 'hotdog')).toBeUndefined();
    expect(imageNameOfEntryKey('other/images/entries/img.json', 'hotdog')).toBeUndefined();
  });

  test('bucket URLs', () => {
    expect(bucketOfS3Url('s3://acme-images')).toBe('acme-images');
    expect(bucketOfS3Url('s3://acme-images/')).toBe('acme-images');
    for (const bad of ['https://acme', 's3://', 's3://Acme_Images', 's3://a/b']) expect(() => bucketOfS3Url(bad)).toThrow(UsageError);
  });

  test('content types and error lines', () => {
    expect(contentTypeOf('x.tar.gz')).toBe('application/gzip');
    expect(contentTypeOf('x.raw.xz')).toBe('application/x-xz');
    expect(contentTypeOf('x.md5')).toBe('text/plain; charset=utf-8');
    const error = Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    expect(describeS3Error(error)).toBe('AccessDenied: Access Denied (HTTP 403)');
  });
});
