import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from './nag';

export interface ImageStoreProps {
  /** Alternative domain names for the distribution; needs `certificate`. */
  readonly domainNames?: string[];
  /** ACM certificate (us-east-1) for `domainNames`. Without it CloudFront's default certificate is used. */
  readonly certificate?: acm.ICertificate;
  /** Limit who may download images by country. @default none */
  readonly geoRestriction?: cloudfront.GeoRestriction;
  /** A WAF web ACL (global scope) ARN to put in front of the distribution. @default none */
  readonly webAclId?: string;
  /** @default PRICE_CLASS_100 */
  readonly priceClass?: cloudfront.PriceClass;
  /** How long old (noncurrent) object versions are kept. @default 30 days */
  readonly noncurrentVersionRetention?: Duration;
  /** How long access logs are kept. @default 365 days */
  readonly logRetention?: Duration;
  /** How long browsers and CloudFront keep images (immutable, named by timestamp). @default 365 days */
  readonly imageTtl?: Duration;
  /** How long the index and `streams/*` are cached. @default 60 seconds */
  readonly indexTtl?: Duration;
  /** @default RETAIN: images outlive the stack */
  readonly removalPolicy?: RemovalPolicy;
}

/** Release labels become S3 prefixes: the same rules as the image name fields. */
const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9.+-]*$/;

/**
 * Where images live: a private, versioned S3 bucket served through CloudFront with
 * origin access control. Objects are laid out as tailor consumers expect:
 * `<release_label>/images/<image_name>.<ext>` plus `<release_label>/images/index`.
 * Images are immutable and cached long; the index (and `streams/*`, the LXD
 * simplestreams view) is cached briefly, so no invalidation is needed for readers.
 */
export class ImageStore extends Construct {
  readonly bucket: s3.Bucket;
  /** Holds the bucket's server access logs and the distribution's logs. */
  readonly logBucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  /** `https://<domain>` images are downloaded from. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: ImageStoreProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    if (props.domainNames?.length && !props.certificate) {
      throw new Error('ImageStore: domainNames need a certificate');
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

  /** The key prefix a release's images live under: `<label>/images/`. */
  static releasePrefix(releaseLabel: string): string {
    if (!Token.isUnresolved(releaseLabel) && !LABEL_PATTERN.test(releaseLabel)) {
      throw new Error(`ImageStore: release label "${releaseLabel}" may only hold letters, digits, ".", "+" and "-"`);
    }
    return `${releaseLabel}/images/`;
  }

  /** Read and write (never delete) a release's images and index, and nothing else in the bucket. */
  grantPublish(grantee: iam.IGrantable, releaseLabel: string): iam.Grant {
    const grant = this.grantOnRelease(grantee, releaseLabel, [
      's3:GetObject',
      's3:PutObject',
      's3:AbortMultipartUpload',
      's3:ListMultipartUploadParts',
    ]);
    this.grantStreams(grantee);
    return grant;
  }

  /** Invalidating paths on this store's CloudFront distribution (and no other). */
  grantInvalidation(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['cloudfront:CreateInvalidation'],
      resourceArns: [Stack.of(this).formatArn({
        service: 'cloudfront',
        region: '',
        resource: 'distribution',
        resourceName: this.distribution.distributionId,
      })],
    });
  }

  /**
   * What rewriting the simplestreams files needs (docs/IMAGE_SERVER.md): list the release
   * folders at the bucket's top level, read every release's index, and write streams/v1/.
   */
  grantStreams(grantee: iam.IGrantable): iam.Grant {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringEquals: { 's3:prefix': [''], 's3:delimiter': ['/'] } },
    });
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.indexObjectsArn()] });
    return iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject', 's3:PutObject'], resourceArns: [this.streamsObjectsArn()] });
  }

  /** Every release's tailor index: `<label>/images/index`. */
  indexObjectsArn(): string {
    return this.bucket.arnForObjects('*/images/index');
  }

  /** The simplestreams files. */
  streamsObjectsArn(): string {
    return this.bucket.arnForObjects('streams/v1/*');
  }

  /** What retention cleanup needs: publish rights plus deleting objects and their versions. */
  grantCleanup(grantee: iam.IGrantable, releaseLabel: string): iam.Grant {
    const grant = this.grantOnRelease(grantee, releaseLabel, [
      's3:GetObject',
      's3:PutObject',
      's3:DeleteObject',
      's3:DeleteObjectVersion',
      's3:GetObjectVersion',
    ]);
    this.grantStreams(grantee);
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucketVersions'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${ImageStore.releasePrefix(releaseLabel)}*`] } },
    });
    return grant;
  }

  /** Read every release (for consumers that mirror the store). */
  grantRead(grantee: iam.IGrantable, releaseLabel?: string): iam.Grant {
    return releaseLabel === undefined
      ? this.bucket.grantRead(grantee)
      : this.grantOnRelease(grantee, releaseLabel, ['s3:GetObject']);
  }

  /** The object ARN pattern of one release. */
  releaseObjectsArn(releaseLabel: string): string {
    return this.bucket.arnForObjects(`${ImageStore.releasePrefix(releaseLabel)}*`);
  }

  private grantOnRelease(grantee: iam.IGrantable, releaseLabel: string, actions: string[]): iam.Grant {
    const prefix = ImageStore.releasePrefix(releaseLabel);
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
