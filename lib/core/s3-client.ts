import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';

/**
 * S3 and CloudFront clients configured the standard AWS SDK way: region, endpoint and
 * credentials come from the environment, the shared config/credentials files and profiles
 * (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, the default credential
 * chain). Nothing here knows about any particular server.
 *
 * When a custom S3 endpoint is set (an S3-compatible server such as Ceph RGW or MinIO),
 * addressing is path style (bucket names are not DNS names there) and checksums are sent
 * only where the API requires them: many such servers reject or corrupt the aws-chunked
 * uploads the SDK would otherwise use. Against AWS itself the SDK defaults stay.
 */
export function customS3Endpoint(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL;
  return value && value.trim() !== '' ? value.trim() : undefined;
}

export function s3ClientConfig(env: NodeJS.ProcessEnv = process.env): S3ClientConfig {
  const endpoint = customS3Endpoint(env);
  const config: S3ClientConfig = { maxAttempts: 5 };
  if (endpoint) {
    config.endpoint = endpoint;
    config.forcePathStyle = true;
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
    // S3-compatible servers accept any region name; the SDK needs one to sign.
    if (!env.AWS_REGION && !env.AWS_DEFAULT_REGION && !env.AWS_PROFILE) config.region = 'us-east-1';
  }
  return config;
}

export function createS3Client(env: NodeJS.ProcessEnv = process.env): S3Client {
  return nameS3Calls(new S3Client(s3ClientConfig(env)));
}

interface S3CallInput {
  Bucket?: string;
  Key?: string;
  Prefix?: string;
  VersionId?: string;
}

/** `s3://bucket/key`, `s3://bucket/ (prefix "p")`: what a call was about. */
export function s3CallTarget(input: S3CallInput): string {
  const bucket = input.Bucket ? `s3://${input.Bucket}/` : 's3://';
  if (input.Key !== undefined) return `${bucket}${input.Key}${input.VersionId ? ` (version ${input.VersionId})` : ''}`;
  return input.Prefix !== undefined ? `${bucket} (prefix "${input.Prefix}")` : bucket;
}

/**
 * Makes every failed call say which call it was and on what: `PutObject
 * s3://bucket/key refused: AccessDenied` rather than the SDK's bare "UnknownError" (HEAD
 * answers have no body). A refused call then names the permission it lacked and where.
 */
export function nameS3Calls(client: S3Client): S3Client {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const e = error as { name?: string; Code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
        if (e && typeof e === 'object') {
          const operation = (context.commandName ?? 'S3 call').replace(/Command$/, '');
          const status = e.$metadata?.httpStatusCode;
          const denied = status === 403;
          const code = denied && (!e.Code || e.Code === 'Unknown' || e.Code === 'Forbidden')
            ? 'AccessDenied'
            : e.Code ?? (e.name && e.name !== 'Unknown' && e.name !== 'Error' ? e.name : status === 404 ? 'NotFound' : 'error');
          const detail = e.message && !['UnknownError', code, ''].includes(e.message) ? `: ${e.message.split('\n')[0]}` : '';
          e.message = `${operation} ${s3CallTarget(args.input as S3CallInput)} ${denied ? 'refused' : 'failed'}: ${code}${detail}`;
        }
        throw error;
      }
    },
    { step: 'initialize', name: 'tailorImageNameS3Calls', override: true },
  );
  return client;
}

/** CloudFront is a global service signed in us-east-1; its endpoint may be overridden
 * with AWS_ENDPOINT_URL_CLOUDFRONT / AWS_ENDPOINT_URL like any other. */
export function createCloudFrontClient(): CloudFrontClient {
  return new CloudFrontClient({ region: 'us-east-1', maxAttempts: 5 });
}
