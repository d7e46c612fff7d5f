import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { acknowledgeWildcards } from './nag';

/**
 * The grants of the AMI publish (lib/storage/ec2/), each conditioned on the tags the
 * publisher sets (lib/storage/ec2/ami-tags.ts: the names are repeated here, since the
 * constructs never import the builder's storage code; test/unit/constructs-ami.test.ts
 * checks they agree):
 *   - a snapshot may be started only carrying the marker tag and one of the role's release
 *     labels (aws:RequestTag), and written, completed, tagged (only its state tag),
 *     deleted or shared only when it carries one of them (aws:ResourceTag / ec2:ResourceTag);
 *   - an image may be registered only with those tags (aws:RequestTag, tags set on
 *     creation: ec2:CreateAction) from such a snapshot, and deregistered, shared or copied
 *     only when it carries them; a copy's new image is allowed in the copy regions only;
 *   - DescribeImages and DescribeSnapshots have no resource-level permissions.
 */
const MARKER = 'tailor-image:ami';
const RELEASE = 'tailor-image:release-label';
const STATE = 'tailor-image:state';

export const AMI_TAG_KEYS = { marker: MARKER, release: RELEASE, state: STATE } as const;

const snapshots = (region = '*') => `arn:${Aws.PARTITION}:ec2:${region}::snapshot/*`;
const images = (region = '*') => `arn:${Aws.PARTITION}:ec2:${region}::image/*`;

export interface AmiGrantOptions {
  /** The release labels the role publishes under (the tag every condition names). */
  readonly releaseLabels: string[];
  /** Regions the image is copied to (CopyImage creates the copy there). @default none */
  readonly copyRegions?: string[];
  /** Whether images are shared with accounts (ModifyImageAttribute, ModifySnapshotAttribute). @default false */
  readonly share?: boolean;
}

function describe(role: iam.IRole): void {
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeImages', 'ec2:DescribeSnapshots'], resources: ['*'] }));
  acknowledgeWildcards(role, { resources: ['*'] }, 'ec2:DescribeImages and ec2:DescribeSnapshots have no resource-level permissions; they only read.');
}

/** What the cleanup of a release with ami images does: find, deregister and delete by tag. */
export function grantAmiCleanup(role: iam.IRole, releaseLabels: string[]): void {
  describe(role);
  const tagged = (key: string) => ({ StringEquals: { [`${key}/${RELEASE}`]: releaseLabels } });
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ec2:DeregisterImage'], resources: [images()], conditions: tagged('ec2:ResourceTag') }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ec2:DeleteSnapshot'], resources: [snapshots()], conditions: tagged('ec2:ResourceTag') }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['ec2:CreateTags'], resources: [snapshots()],
    conditions: { ...tagged('ec2:ResourceTag'), 'ForAllValues:StringEquals': { 'aws:TagKeys': [STATE] } },
  }));
  acknowledgeWildcards(role, { resources: [images(), snapshots()] },
    'Image and snapshot ids are made at publish time; every action on them is conditioned on the release-label tag the publisher sets.');
}

/** What a build project of an ami recipe does: upload, register, tag, copy, share, and undo or sweep. */
export function grantAmiPublish(role: iam.IRole, options: AmiGrantOptions): void {
  grantAmiCleanup(role, options.releaseLabels);
  const labels = options.releaseLabels;
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['ebs:StartSnapshot'], resources: [snapshots()],
    conditions: { StringEquals: { [`aws:RequestTag/${RELEASE}`]: labels }, Null: { [`aws:RequestTag/${MARKER}`]: 'false' } },
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['ebs:PutSnapshotBlock', 'ebs:CompleteSnapshot'], resources: [snapshots()],
    conditions: { StringEquals: { [`aws:ResourceTag/${RELEASE}`]: labels } },
  }));
  // RegisterImage is authorized on the new image (its tags on creation) and on the snapshot.
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['ec2:RegisterImage'], resources: [images()],
    conditions: { StringEquals: { [`aws:RequestTag/${RELEASE}`]: labels }, Null: { [`aws:RequestTag/${MARKER}`]: 'false' } },
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['ec2:RegisterImage'], resources: [snapshots()], conditions: { StringEquals: { [`ec2:ResourceTag/${RELEASE}`]: labels } },
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['ec2:CreateTags'], resources: [images()],
    conditions: { StringEquals: { 'ec2:CreateAction': ['RegisterImage', 'CopyImage'] } },
  }));
  const copies = options.copyRegions ?? [];
  if (copies.length > 0) {
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['ec2:CopyImage'], resources: [images(Aws.REGION)], conditions: { StringEquals: { [`ec2:ResourceTag/${RELEASE}`]: labels } },
    }));
    const targets = copies.map((region) => images(region));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ec2:CopyImage'], resources: targets }));
    acknowledgeWildcards(role, { resources: [images(Aws.REGION), ...targets] },
      'CopyImage makes an image with an id known only then, in the configured copy regions only; the source must carry the release-label tag.');
  }
  if (options.share) {
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['ec2:ModifyImageAttribute'], resources: [images()], conditions: { StringEquals: { [`ec2:ResourceTag/${RELEASE}`]: labels } },
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['ec2:ModifySnapshotAttribute'], resources: [snapshots()], conditions: { StringEquals: { [`ec2:ResourceTag/${RELEASE}`]: labels } },
    }));
  }
}
