import { RecipeSource } from '../../lib/constructs';
import { AMI_TAG_KEYS } from '../../lib/constructs/ami-grants';
import { AMI_MARKER_TAG, AMI_RELEASE_TAG, AMI_STATE_TAG } from '../../lib/storage/ec2/ami-tags';
import { factoryStack, writeCatalog } from './constructs-helpers';

type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;

function statementsOf(resources: Resources, roleId: string): Array<Record<string, any>> {
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((role: { Ref: string }) => role.Ref === roleId))
    .flatMap((r) => r.Properties.PolicyDocument.Statement);
}

const actionsOf = (statement: Record<string, any>): string[] => [statement.Action].flat();

const catalog = writeCatalog([
  { name: 'fleet', build_type: 'ami', os_versions: ['bookworm'] },
  { name: 'webapp', build_type: 'lxd', os_versions: ['bookworm'] },
]);

describe('the factory with an ami recipe', () => {
  const props = { recipes: RecipeSource.directory(catalog), releaseLabels: ['nightly'], amiCopyRegions: ['us-west-2'], amiShareAccounts: ['444455556666'] };
  const { factory, resources, idOf } = factoryStack(props);
  const ami = statementsOf(resources, idOf(factory.projects.fleet.project.role!));
  const lxd = statementsOf(resources, idOf(factory.projects.webapp.project.role!));
  const cleanup = statementsOf(resources, idOf(factory.cleanup.project.role!));
  const labels = ['hotdog', 'nightly'];

  test('the constructs name the tags the publisher sets', () => {
    expect(AMI_TAG_KEYS).toEqual({ marker: AMI_MARKER_TAG, release: AMI_RELEASE_TAG, state: AMI_STATE_TAG });
  });

  test('the ami recipe gets a build project that passes the copy regions and accounts', () => {
    const project = resources[idOf(factory.projects.fleet.project)];
    const env = Object.fromEntries((project.Properties.Environment.EnvironmentVariables as { Name: string; Value: unknown }[]).map((v) => [v.Name, v.Value]));
    expect(env).toMatchObject({ BUILD_TYPE: 'ami', AMI_COPY_TO: 'us-west-2', AMI_SHARE_WITH: '444455556666' });
  });

  test('snapshots may be started only with the marker and a release label of the project, written only when so tagged', () => {
    const start = ami.find((s) => actionsOf(s).includes('ebs:StartSnapshot'))!;
    expect(start.Condition).toEqual({ StringEquals: { [`aws:RequestTag/${AMI_RELEASE_TAG}`]: labels }, Null: { [`aws:RequestTag/${AMI_MARKER_TAG}`]: 'false' } });
    const put = ami.find((s) => actionsOf(s).includes('ebs:PutSnapshotBlock'))!;
    expect(actionsOf(put).sort()).toEqual(['ebs:CompleteSnapshot', 'ebs:PutSnapshotBlock']);
    expect(put.Condition).toEqual({ StringEquals: { [`aws:ResourceTag/${AMI_RELEASE_TAG}`]: labels } });
  });

  test('every EC2 action that changes something is conditioned on tags, except the copy into the copy regions', () => {
    const changing = ami.filter((s) => actionsOf(s).some((a) => /^(ec2|ebs):/.test(a) && !/^ec2:Describe/.test(a)));
    const names = new Set(changing.flatMap(actionsOf));
    for (const action of ['ec2:RegisterImage', 'ec2:DeregisterImage', 'ec2:DeleteSnapshot', 'ec2:CreateTags', 'ec2:CopyImage', 'ec2:ModifyImageAttribute', 'ec2:ModifySnapshotAttribute']) {
      expect(names.has(action)).toBe(true);
    }
    for (const statement of changing) {
      const unconditioned = !statement.Condition;
      if (unconditioned) {
        expect(actionsOf(statement)).toEqual(['ec2:CopyImage']);
        expect(JSON.stringify(statement.Resource)).toContain('us-west-2');
      }
    }
    const retag = ami.find((s) => actionsOf(s).includes('ec2:CreateTags') && JSON.stringify(s.Resource).includes('snapshot'))!;
    expect(retag.Condition['ForAllValues:StringEquals']).toEqual({ 'aws:TagKeys': [AMI_STATE_TAG] });
    const describe = ami.find((s) => actionsOf(s).includes('ec2:DescribeImages'))!;
    expect(describe.Resource).toBe('*');
  });

  test('other build projects get no EC2 or EBS grant; the cleanup may deregister and delete by tag only', () => {
    expect(lxd.flatMap(actionsOf).filter((a) => /^(ec2|ebs):/.test(a))).toEqual([]);
    const deregister = cleanup.find((s) => actionsOf(s).includes('ec2:DeregisterImage'))!;
    expect(deregister.Condition).toEqual({ StringEquals: { [`ec2:ResourceTag/${AMI_RELEASE_TAG}`]: labels } });
    expect(cleanup.flatMap(actionsOf).filter((a) => /^ebs:|RegisterImage$|CopyImage|Modify/.test(a) && a !== 'ec2:DeregisterImage')).toEqual([]);
  });
  // cdk-nag: the 'an ami recipe' configuration of constructs-nag.test.ts (clean, no stale acknowledgement).
});
