import { Duration, RemovalPolicy, Stack, Token, UnscopedValidationError } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, IConstruct } from 'constructs';
import { acknowledge } from './nag';
import { invalidProps } from './validation';

export interface ImageStoreProps {
  /** Alternative domain names for the distribution; needs `certificate`. @default the distribution's *.cloudfront.net name */
  readonly domainNames?: string[];
  /** ACM certificate (us-east-1) for `domainNames`. @default CloudFront's default certificate */
  readonly certificate?: acm.ICertificate;
  /** Limit who may download images by country. @default none */
  readonly geoRestriction?: cloudfront.GeoRestriction;
  /** A WAF web ACL (global scope) ARN to put in front of the distribution. @default none */
  readonly webAclId?: string;
  /** The edge locations that serve images. @default PRICE_CLASS_100 */
  readonly priceClass?: cloudfront.PriceClass;
  /** How long old (noncurrent) object versions are kept. @default 30 days */
  readonly noncurrentVersionRetention?: Duration;
  /** How long access logs are kept. @default 365 days */
  readonly logRetention?: Duration;
  /** How long browsers and CloudFront keep images (immutable, named by timestamp). @default 365 days */
  readonly imageTtl?: Duration;
  /** How long the index and `streams/*` are cached. @default 60 seconds */
  readonly indexTtl?: Duration;
  /** The removal policy of the bucket and the log bucket. @default RETAIN: images outlive the stack */
  readonly removalPolicy?: RemovalPolicy;
}

/** Release labels become S3 prefixes: the same rules as the image name fields. */
const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9.+-]*$/;

/**
 * An image store, made here or imported (`ImageStore.fromBucketName`,
 * `ImageStore.fromAttributes`): what build and cleanup projects publish into and what
 * consumers read from, with the grants each of them needs.
 */
export interface IImageStore extends IConstruct {
  /** The bucket images are published to. */
  readonly bucket: s3.IBucket;
  /** The CloudFront distribution in front of the bucket, invalidated after each publish. @default none */
  readonly distributionId?: string;
  /** `https://<domain>` images are downloaded from. @default none known */
  readonly url?: string;
  /** Read and write (never delete) a release's images and index, and the simplestreams files. */
  grantPublish(grantee: iam.IGrantable, releaseLabel: string): iam.Grant;
  /** What retention cleanup needs: publish rights plus deleting objects and their versions. */
  grantCleanup(grantee: iam.IGrantable, releaseLabel: string): iam.Grant;
  /** Read one release, or every release. */
  grantRead(grantee: iam.IGrantable, releaseLabel?: string): iam.Grant;
  /** Invalidating paths on the store's distribution (a no-op grant when it has none). */
  grantInvalidation(grantee: iam.IGrantable): iam.Grant;
  /** The object ARN pattern of one release: `<bucket>/<label>/images/*`. */
  releaseObjectsArn(releaseLabel: string): string;
  /** Every release's tailor index: `<label>/images/index`. */
  indexObjectsArn(): string;
  /** The simplestreams files: `streams/v1/*`. */
  streamsObjectsArn(): string;
}

/** An existing store another app (or stack) made. */
export interface ImageStoreAttributes {
  /** The images bucket. */
  readonly bucketName: string;
  /** Its CloudFront distribution, invalidated after publishing. @default none: nothing is invalidated */
  readonly distributionId?: string;
  /** `https://<domain>` images are downloaded from. @default none known */
  readonly url?: string;
}

/** The grants of a store, for any bucket and distribution. */
abstract class ImageStoreBase extends Construct implements IImageStore {
  abstract readonly bucket: s3.IBucket;
  abstract readonly distributionId?: string;
  abstract readonly url?: string;

  grantPublish(grantee: iam.IGrantable, releaseLabel: string): iam.Grant {
    const grant = this.grantOnRelease(grantee, releaseLabel, [
      's3:GetObject',
      's3:PutObject',
      's3:AbortMultipartUpload',
    ]);
    this.grantStreams(grantee);
    return grant;
  }

  grantInvalidation(grantee: iam.IGrantable): iam.Grant {
    if (!this.distributionId) return iam.Grant.drop(grantee, 'invalidate the store\'s distribution (it has none)');
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['cloudfront:CreateInvalidation'],
      resourceArns: [Stack.of(this).formatArn({
        service: 'cloudfront',
        region: '',
        resource: 'distribution',
        resourceName: this.distributionId,
      })],
    });
  }

  /**
   * What rewriting the simplestreams files needs (docs/IMAGE_SERVER.md): list the release
   * folders at the bucket's top level, read every release's index, and read and write
   * streams/v1/ (AbortMultipartUpload: the publisher's verify tries the write with a
   * multipart upload it aborts at once). The listings of one key as a prefix (`*\/images/index`, `streams/v1/*`)
   * tell a missing file from a refused one (S3 answers both with 403 otherwise).
   */
  grantStreams(grantee: iam.IGrantable): iam.Grant {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      // The top level only: delimiter "/" and an empty prefix (absent, as some servers
      // treat an empty one, or "").
      conditions: { StringEquals: { 's3:delimiter': ['/'] }, StringEqualsIfExists: { 's3:prefix': [''] } },
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': ['*/images/index', 'streams/v1/*'] } },
    });
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.indexObjectsArn()] });
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
      resourceArns: [this.streamsObjectsArn()],
    });
  }

  indexObjectsArn(): string {
    return this.bucket.arnForObjects('*/images/index');
  }

  streamsObjectsArn(): string {
    return this.bucket.arnForObjects('streams/v1/*');
  }

  grantCleanup(grantee: iam.IGrantable, releaseLabel: string): iam.Grant {
    const grant = this.grantOnRelease(grantee, releaseLabel, [
      's3:GetObject',
      's3:PutObject',
      's3:AbortMultipartUpload',
      's3:DeleteObject',
      's3:DeleteObjectVersion',
    ]);
    this.grantStreams(grantee);
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucketVersions'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${ImageStore.releasePrefix(releaseLabel, this)}*`] } },
    });
    return grant;
  }

  grantRead(grantee: iam.IGrantable, releaseLabel?: string): iam.Grant {
    return releaseLabel === undefined
      ? this.bucket.grantRead(grantee)
      : this.grantOnRelease(grantee, releaseLabel, ['s3:GetObject']);
  }

  releaseObjectsArn(releaseLabel: string): string {
    return this.bucket.arnForObjects(`${ImageStore.releasePrefix(releaseLabel, this)}*`);
  }

  private grantOnRelease(grantee: iam.IGrantable, releaseLabel: string, actions: string[]): iam.Grant {
    const prefix = ImageStore.releasePrefix(releaseLabel, this);
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: [this.bucket.arnForObjects(`${prefix}*`)],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } },
    });
    return grant;
  }
}

class ImportedImageStore extends ImageStoreBase {
  readonly bucket: s3.IBucket;
  readonly distributionId?: string;
  readonly url?: string;

  constructor(scope: Construct, id: string, attrs: ImageStoreAttributes) {
    super(scope, id);
    this.bucket = s3.Bucket.fromBucketName(this, 'Bucket', attrs.bucketName);
    this.distributionId = attrs.distributionId;
    this.url = attrs.url;
  }
}

/**
 * Where images live: a private, versioned S3 bucket served through CloudFront with
 * origin access control. Objects are laid out as tailor consumers expect:
 * `<release_label>/images/<image_name>.<ext>` plus `<release_label>/images/index`.
 * Images are immutable and cached long; the index (and `streams/*`, the LXD
 * simplestreams view) is cached briefly, so no invalidation is needed for readers.
 */
export class ImageStore extends ImageStoreBase {
  /** A store made elsewhere, known by its bucket (and optionally its distribution and URL). */
  static fromBucketName(scope: Construct, id: string, bucketName: string, attrs: Omit<ImageStoreAttributes, 'bucketName'> = {}): IImageStore {
    return new ImportedImageStore(scope, id, { ...attrs, bucketName });
  }

  /** A store made elsewhere. */
  static fromAttributes(scope: Construct, id: string, attrs: ImageStoreAttributes): IImageStore {
    return new ImportedImageStore(scope, id, attrs);
  }

  /** The key prefix a release's images live under: `<label>/images/`. */
  static releasePrefix(releaseLabel: string, scope?: IConstruct): string {
    if (!Token.isUnresolved(releaseLabel) && !LABEL_PATTERN.test(releaseLabel)) {
      const message = `release label "${releaseLabel}" may only hold letters, digits, ".", "+" and "-"`;
      throw scope
        ? invalidProps(scope, 'ReleaseLabel', message)
        : new UnscopedValidationError('ReleaseLabel' as ConstructorParameters<typeof UnscopedValidationError>[0], message);
    }
    return `${releaseLabel}/images/`;
  }

  readonly bucket: s3.Bucket;
  /** Holds the bucket's server access logs and the distribution's logs. */
  readonly logBucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  /** `https://<domain>` images are downloaded from. */
  readonly url: string;

  get distributionId(): string {
    return this.distribution.distributionId;
  }

  constructor(scope: Construct, id: string, props: ImageStoreProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    if (props.domainNames?.length && !props.certificate) {
      throw invalidProps(this, 'DomainWithoutCertificate', 'domainNames need a certificate');
    }

    this.logBucket = new s3.Bucket(this, 'Logs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      // CloudFront standard logging writes with ACLs.
      objectOwnership: s3.ObjectOwnership.OBJECT_WRITER,
      lifecycleRules: [{ expiration: props.logRetention ?? Duration.days(365) }],
      removalPolicy,
    });

    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: 's3-access/',
      lifecycleRules: [
        {
          id: 'noncurrent-versions',
          noncurrentVersionExpiration: props.noncurrentVersionRetention ?? Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
          expiredObjectDeleteMarker: true,
        },
      ],
      removalPolicy,
    });

    const imageCache = new cloudfront.CachePolicy(this, 'ImageCache', {
      comment: 'tailor-image: immutable images',
      defaultTtl: props.imageTtl ?? Duration.days(365),
      minTtl: Duration.seconds(0),
      maxTtl: props.imageTtl ?? Duration.days(365),
      enableAcceptEncodingGzip: false,
      enableAcceptEncodingBrotli: false,
    });
    const indexTtl = props.indexTtl ?? Duration.seconds(60);
    const indexCache = new cloudfront.CachePolicy(this, 'IndexCache', {
      comment: 'tailor-image: image index and streams',
      defaultTtl: indexTtl,
      minTtl: Duration.seconds(0),
      maxTtl: indexTtl,
      enableAcceptEncodingGzip: true,
      enableAcceptEncodingBrotli: true,
    });

    const origin = origins.S3BucketOrigin.withOriginAccessControl(this.bucket);
    const behavior = (cachePolicy: cloudfront.ICachePolicy): cloudfront.BehaviorOptions => ({
      origin,
      cachePolicy,
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
      compress: true,
    });
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'tailor-image images',
      defaultBehavior: behavior(imageCache),
      additionalBehaviors: {
        '*/images/index': behavior(indexCache),
        'streams/*': behavior(indexCache),
      },
      domainNames: props.domainNames,
      certificate: props.certificate,
      // Only a custom certificate lets the security policy be chosen.
      minimumProtocolVersion: props.certificate ? cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 : undefined,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: props.priceClass ?? cloudfront.PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: this.logBucket,
      logFilePrefix: 'cloudfront/',
      geoRestriction: props.geoRestriction,
      webAclId: props.webAclId,
    });
    if (!props.certificate) {
      acknowledge(this.distribution, 'AwsSolutions-CFR4',
        'No custom domain was given: the default *.cloudfront.net certificate cannot be pinned to TLS 1.2; pass domainNames + certificate to enforce it.');
    }
    if (!props.geoRestriction) {
      acknowledge(this.distribution, 'AwsSolutions-CFR1',
        'Images are distributed to fleets worldwide; pass geoRestriction to limit countries.');
    }
    if (!props.webAclId) {
      acknowledge(this.distribution, 'AwsSolutions-CFR2',
        'Only immutable public-by-design images are served (GET/HEAD, no origin writes); pass webAclId to add WAF.');
    }

    const domain = props.domainNames?.[0] ?? this.distribution.distributionDomainName;
    this.url = `https://${domain}`;
  }
}
