import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Errors } from 'aws-cdk-lib';
import { ImageStore } from '../../lib/constructs/image-store';

process.env.CDK_VALIDATION = 'false';

function storeStack(props: ConstructorParameters<typeof ImageStore>[2] = {}) {
  const app = new App();
  const stack = new Stack(app, 'S', { env: { account: '123456789012', region: 'eu-west-1' } });
  const store = new ImageStore(stack, 'Store', props);
  return { stack, store };
}

function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
}

describe('ImageStore bucket', () => {
  const { stack, store } = storeStack();
  const template = Template.fromStack(stack);
  const bucketId = logicalId(stack, store.bucket);
  const logBucketId = logicalId(stack, store.logBucket);
  const bucket = template.toJSON().Resources[bucketId].Properties;

  test('blocks all public access, encrypts, versions', () => {
    expect(bucket.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true,
    });
    expect(bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
    expect(bucket.VersioningConfiguration).toEqual({ Status: 'Enabled' });
  });

  test('expires noncurrent versions and incomplete uploads', () => {
    expect(bucket.LifecycleConfiguration.Rules).toEqual([
      expect.objectContaining({
        Status: 'Enabled',
        NoncurrentVersionExpiration: { NoncurrentDays: 30 },
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
      }),
    ]);
  });

  test('sends server access logs to the log bucket', () => {
    expect(bucket.LoggingConfiguration).toEqual({ DestinationBucketName: { Ref: logBucketId }, LogFilePrefix: 's3-access/' });
  });

  test('denies requests without TLS', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  test('the log bucket lets CloudFront write logs (OBJECT_WRITER), is private and TLS-only', () => {
    const logs = template.toJSON().Resources[logBucketId].Properties;
    expect(logs.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'ObjectWriter' }] });
    expect(logs.PublicAccessBlockConfiguration.BlockPublicPolicy).toBe(true);
    expect(logs.LifecycleConfiguration.Rules[0].ExpirationInDays).toBe(365);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logBucketId },
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });
});

describe('ImageStore distribution', () => {
  const { stack, store } = storeStack();
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources;
  const distribution = resources[logicalId(stack, store.distribution)].Properties.DistributionConfig;
  const policyTtl = (ref: { Ref: string }) => resources[ref.Ref].Properties.CachePolicyConfig;

  test('reads the bucket through origin access control only', () => {
    template.resourceCountIs('AWS::CloudFront::OriginAccessControl', 1);
    template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: { OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' },
    });
    expect(distribution.Origins).toHaveLength(1);
    expect(distribution.Origins[0].OriginAccessControlId).toBeDefined();
    expect(distribution.Origins[0].S3OriginConfig).toEqual({ OriginAccessIdentity: '' });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudfront.amazonaws.com' },
            Action: 's3:GetObject',
            Condition: { StringEquals: { 'AWS:SourceArn': Match.anyValue() } },
          }),
        ]),
      },
    });
  });

  test('is HTTPS only, GET/HEAD only, on every behaviour', () => {
    const behaviours = [distribution.DefaultCacheBehavior, ...distribution.CacheBehaviors];
    for (const behaviour of behaviours) {
      expect(behaviour.ViewerProtocolPolicy).toBe('https-only');
      expect(behaviour.AllowedMethods).toEqual(['GET', 'HEAD']);
    }
  });

  test('keeps images a year and the index and streams a minute', () => {
    const images = policyTtl(distribution.DefaultCacheBehavior.CachePolicyId);
    expect(images.DefaultTTL).toBe(365 * 24 * 3600);
    expect(images.MaxTTL).toBe(365 * 24 * 3600);
    const patterns = distribution.CacheBehaviors.map((b: { PathPattern: string }) => b.PathPattern).sort();
    expect(patterns).toEqual(['*/images/index', 'streams/*']);
    for (const behaviour of distribution.CacheBehaviors) {
      const short = policyTtl(behaviour.CachePolicyId);
      expect(short.DefaultTTL).toBe(60);
      expect(short.MaxTTL).toBe(60);
    }
  });

  test('logs to the log bucket', () => {
    expect(distribution.Logging).toEqual({
      Bucket: { 'Fn::GetAtt': [logicalId(stack, store.logBucket), 'RegionalDomainName'] },
      Prefix: 'cloudfront/',
    });
  });

  test('has no custom domain, geo restriction or WAF unless asked', () => {
    expect(distribution.Aliases).toBeUndefined();
    expect(distribution.Restrictions).toBeUndefined();
    expect(distribution.WebACLId).toBeUndefined();
    expect(store.url).toMatch(/^https:\/\//);
  });
});

describe('ImageStore options', () => {
  test('a custom domain with its certificate, TLS 1.2, geo restriction, WAF and TTLs', () => {
    const app = new App();
    const stack = new Stack(app, 'S', { env: { account: '123456789012', region: 'us-east-1' } });
    const certificate = acm.Certificate.fromCertificateArn(stack, 'Cert', 'arn:aws:acm:us-east-1:123456789012:certificate/abc');
    const store = new ImageStore(stack, 'Store', {
      domainNames: ['images.example.com'],
      certificate,
      geoRestriction: cloudfront.GeoRestriction.allowlist('DE', 'US'),
      webAclId: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/images/1',
      indexTtl: Duration.seconds(30),
      noncurrentVersionRetention: Duration.days(7),
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Aliases: ['images.example.com'],
        ViewerCertificate: {
          AcmCertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc',
          MinimumProtocolVersion: 'TLSv1.2_2021',
          SslSupportMethod: 'sni-only',
        },
        Restrictions: { GeoRestriction: { Locations: ['DE', 'US'], RestrictionType: 'whitelist' } },
        WebACLId: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/images/1',
      }),
    });
    template.hasResourceProperties('AWS::CloudFront::CachePolicy', {
      CachePolicyConfig: Match.objectLike({ DefaultTTL: 30, MaxTTL: 30 }),
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } })] },
    });
    expect(store.url).toBe('https://images.example.com');
  });

  test('a custom domain without a certificate is refused', () => {
    expect(() => storeStack({ domainNames: ['images.example.com'] })).toThrow('domainNames need a certificate');
  });
});

describe('ImageStore grants', () => {
  function granted(grant: (store: ImageStore, role: iam.Role) => void) {
    const app = new App();
    const stack = new Stack(app, 'S');
    const store = new ImageStore(stack, 'Store');
    const role = new iam.Role(stack, 'Publisher', { assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com') });
    grant(store, role);
    const statements = Template.fromStack(stack).toJSON().Resources[stack.getLogicalId(role.node.findChild('DefaultPolicy').node.defaultChild as never)]
      .Properties.PolicyDocument.Statement as Array<Record<string, any>>;
    return { statements, bucketId: stack.getLogicalId(store.bucket.node.defaultChild as never) };
  }

  test('grantPublish: read/write under <label>/images/* only, never delete', () => {
    const { statements, bucketId } = granted((store, role) => store.grantPublish(role, 'hotdog'));
    const objects = statements.find((s) => Array.isArray(s.Action) && s.Action.includes('s3:PutObject'))!;
    expect(objects.Resource).toEqual({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/hotdog/images/*']] });
    expect(objects.Action).toEqual(expect.arrayContaining(['s3:GetObject', 's3:PutObject']));
    const lists = statements.filter((s) => s.Action === 's3:ListBucket').map((s) => s.Condition);
    expect(lists).toEqual([
      // The release prefix (and any key in it, to tell a missing one from a refused one).
      { StringLike: { 's3:prefix': ['hotdog/images/*'] } },
      // The release folders at the top (simplestreams), with an empty prefix, sent or not.
      { StringEquals: { 's3:delimiter': ['/'] }, StringEqualsIfExists: { 's3:prefix': [''] } },
      // Every release's index and the streams files, each as a listing of itself.
      { StringLike: { 's3:prefix': ['*/images/index', 'streams/v1/*'] } },
    ]);
    const everything = JSON.stringify(statements);
    expect(everything).not.toContain('Delete');
    expect(everything).not.toContain('s3:*');
    for (const statement of statements) {
      // Every statement names this bucket (objects under the prefix, or the bucket itself).
      expect(JSON.stringify(statement.Resource)).toContain(bucketId);
    }
  });

  test('grantCleanup adds deleting objects and versions, still under the prefix', () => {
    const { statements } = granted((store, role) => store.grantCleanup(role, 'hotdog'));
    const objects = statements.find((s) => Array.isArray(s.Action) && s.Action.includes('s3:DeleteObjectVersion'))!;
    expect(JSON.stringify(objects.Resource)).toContain('/hotdog/images/*');
    const versions = statements.find((s) => s.Action === 's3:ListBucketVersions')!;
    expect(versions.Condition).toEqual({ StringLike: { 's3:prefix': ['hotdog/images/*'] } });
  });

  test('grantRead: one release read-only, or the whole bucket', () => {
    const one = granted((store, role) => store.grantRead(role, 'hotdog')).statements;
    expect(one.find((s) => s.Action === 's3:GetObject')!.Resource['Fn::Join'][1][1]).toBe('/hotdog/images/*');
    expect(JSON.stringify(one)).not.toContain('PutObject');
    const all = granted((store, role) => store.grantRead(role)).statements;
    expect(JSON.stringify(all)).toContain('s3:GetObject');
    expect(JSON.stringify(all)).not.toContain('PutObject');
  });

  test('a release label that is not a plain name is refused, naming the store', () => {
    for (const label of ['../x', 'a/b', 'with space', '_x', '']) {
      let error: unknown;
      try {
        granted((store, role) => store.grantPublish(role, label));
      } catch (e) {
        error = e;
      }
      expect(Errors.isValidationError(error)).toBe(true);
      expect((error as Error).message).toContain('release label');
      expect((error as { constructPath: string }).constructPath).toBe('S/Store');
    }
  });

  test('an imported store grants the same on its bucket, and invalidation on its distribution', () => {
    const app = new App();
    const stack = new Stack(app, 'S', { env: { account: '123456789012', region: 'eu-west-1' } });
    const store = ImageStore.fromAttributes(stack, 'Store', { bucketName: 'acme-images', distributionId: 'E1EXAMPLE' });
    const role = new iam.Role(stack, 'Publisher', { assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com') });
    store.grantPublish(role, 'hotdog');
    store.grantInvalidation(role);
    const statements = Template.fromStack(stack).toJSON().Resources[stack.getLogicalId(role.node.findChild('DefaultPolicy').node.defaultChild as never)]
      .Properties.PolicyDocument.Statement as Array<Record<string, any>>;
    expect(statements.find((s) => JSON.stringify(s.Action).includes('s3:PutObject'))!.Resource)
      .toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::acme-images/hotdog/images/*']] });
    expect(JSON.stringify(statements.find((s) => s.Action === 'cloudfront:CreateInvalidation')!.Resource)).toContain(':distribution/E1EXAMPLE');
    expect(store.distributionId).toBe('E1EXAMPLE');
  });
});
