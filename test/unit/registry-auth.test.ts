import { GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { ecrHost, registryAuth, writeAuthFile } from '../../lib/storage/registry/auth';

describe('registry logins', () => {
  test('ECR hosts are recognised with their region', () => {
    expect(ecrHost('123456789012.dkr.ecr.eu-west-1.amazonaws.com')).toEqual({ account: '123456789012', region: 'eu-west-1' });
    expect(ecrHost('123456789012.dkr.ecr-fips.us-east-1.amazonaws.com')?.region).toBe('us-east-1');
    expect(ecrHost('registry.example.com')).toBeUndefined();
    expect(ecrHost('ecr.example.com')).toBeUndefined();
  });

  test('an ECR host logs in with the token from GetAuthorizationToken', async () => {
    const token = Buffer.from('AWS:ecr-password').toString('base64');
    const regions: string[] = [];
    const sent: unknown[] = [];
    const auth = await registryAuth('123456789012.dkr.ecr.eu-west-1.amazonaws.com', {
      env: {},
      ecrClient: (region) => {
        regions.push(region);
        return {
          send: (async (command: unknown) => {
            sent.push(command);
            return { authorizationData: [{ authorizationToken: token }] };
          }) as never,
        };
      },
    });
    expect(auth).toEqual({ kind: 'basic', auth: token, source: 'ECR GetAuthorizationToken' });
    expect(regions).toEqual(['eu-west-1']);
    expect(sent[0]).toBeInstanceOf(GetAuthorizationTokenCommand);
  });

  test('an ECR failure is one line naming the registry', async () => {
    const failing = () => ({
      send: (async () => {
        const error = new Error('User is not authorized to perform ecr:GetAuthorizationToken\nmore');
        error.name = 'AccessDeniedException';
        throw error;
      }) as never,
    });
    await expect(registryAuth('123456789012.dkr.ecr.eu-west-1.amazonaws.com', { ecrClient: failing }))
      .rejects.toThrow(/^cannot get an ECR login for 123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com: AccessDeniedException: User is not authorized[^\n]*$/);
  });

  test('other registries: basic auth from the environment, or anonymous', async () => {
    await expect(registryAuth('registry.lab:5000', { env: { TAILOR_REGISTRY_USERNAME: 'bot', TAILOR_REGISTRY_PASSWORD: 's3cret' } }))
      .resolves.toEqual({ kind: 'basic', auth: Buffer.from('bot:s3cret').toString('base64'), source: 'TAILOR_REGISTRY_USERNAME' });
    await expect(registryAuth('registry.lab:5000', { env: {} })).resolves.toEqual({ kind: 'anonymous' });
    await expect(registryAuth('registry.lab:5000', { env: { TAILOR_REGISTRY_PASSWORD: 'x' } }))
      .rejects.toThrow('set both TAILOR_REGISTRY_USERNAME and TAILOR_REGISTRY_PASSWORD, or neither');
  });

  test('the auth file is private and removed afterwards', async () => {
    const file = await writeAuthFile('registry.lab:5000', 'Ym90OnMzY3JldA==');
    try {
      expect(statSync(file.path).mode & 0o777).toBe(0o600);
      expect(statSync(dirname(file.path)).mode & 0o777).toBe(0o700);
      expect(JSON.parse(readFileSync(file.path, 'utf8'))).toEqual({ auths: { 'registry.lab:5000': { auth: 'Ym90OnMzY3JldA==' } } });
    } finally {
      await file.remove();
    }
    expect(existsSync(dirname(file.path))).toBe(false);
  });

  test('login folders killed runs left are swept at the next push; a running process\'s or a recent one are kept', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'auth-sweep-'));
    try {
      const dead = 2 ** 22 + 4242; // above the default pid_max: no such process
      const old = Date.now() / 1000 - 2 * 3600;
      const leftovers = {
        deadOld: `tailor-registry-auth-${dead}-AbC123`,
        deadRecent: `tailor-registry-auth-${dead}-XyZ789`,
        liveOld: `tailor-registry-auth-${process.pid}-QwE456`,
        unrelated: 'tailor-registry-auth-notapid',
      };
      for (const [key, name] of Object.entries(leftovers)) {
        mkdirSync(join(parent, name));
        writeFileSync(join(parent, name, 'auth.json'), '{"auths":{}}');
        if (key !== 'deadRecent') utimesSync(join(parent, name), old, old);
      }
      const file = await writeAuthFile('registry.lab:5000', 'Ym90OnMzY3JldA==', parent);
      expect(basename(dirname(file.path))).toMatch(new RegExp(`^tailor-registry-auth-${process.pid}-[A-Za-z0-9]{6}$`));
      expect(readdirSync(parent).sort()).toEqual([leftovers.deadRecent, leftovers.liveOld, leftovers.unrelated, basename(dirname(file.path))].sort());
      await file.remove();
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
