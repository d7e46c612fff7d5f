import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImdsStandIn } from '../support/imds';

/** The IMDSv2 stand-in the ami boot test points cloud-init at, checked on its own. */
describe('the IMDSv2 stand-in', () => {
  const work = mkdtempSync(join(tmpdir(), 'imds-'));
  let imds: ImdsStandIn;
  let base: string;
  beforeAll(async () => {
    imds = await ImdsStandIn.start(
      { instanceId: 'i-0abc', localHostname: 'host-1.ec2.internal', keyName: 'launch', publicKey: 'ssh-ed25519 AAAAC3Nz test', userData: '#cloud-config\n' },
      work,
    );
    base = `http://127.0.0.1:${imds.port}`;
  });
  afterAll(async () => {
    await imds.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const token = async () => {
    const res = await fetch(`${base}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '21600' } });
    expect(res.status).toBe(200);
    return res.text();
  };
  const get = (path: string, t?: string) => fetch(`${base}${path}`, { headers: t ? { 'X-aws-ec2-metadata-token': t } : {} });

  test('refuses IMDSv1 (no token) and tokens it did not issue; a token needs a TTL', async () => {
    expect((await get('/latest/meta-data/instance-id')).status).toBe(401);
    expect((await get('/latest/meta-data/instance-id', 'forged')).status).toBe(401);
    expect((await fetch(`${base}/latest/api/token`, { method: 'PUT' })).status).toBe(400);
    expect(imds.requests.slice(0, 3).map((r) => [r.token, r.status])).toEqual([['none', 401], ['invalid', 401], ['none', 400]]);
  });

  test('with a token: meta-data listings, the launch key as EC2 lists it, user data and the identity document, under any version', async () => {
    const t = await token();
    expect(await (await get('/2021-03-23/meta-data/instance-id', t)).text()).toBe('i-0abc');
    const listing = (await (await get('/latest/meta-data/', t)).text()).split('\n');
    expect(listing).toEqual(expect.arrayContaining(['instance-id', 'local-hostname', 'placement/', 'public-keys/']));
    expect(await (await get('/2009-04-04/meta-data/public-keys/', t)).text()).toBe('0=launch');
    expect(await (await get('/2009-04-04/meta-data/public-keys/0/', t)).text()).toBe('openssh-key');
    expect(await (await get('/2009-04-04/meta-data/public-keys/0/openssh-key', t)).text()).toBe('ssh-ed25519 AAAAC3Nz test\n');
    expect(await (await get('/latest/user-data', t)).text()).toBe('#cloud-config\n');
    expect(JSON.parse(await (await get('/2021-03-23/dynamic/instance-identity/document', t)).text())).toMatchObject({ instanceId: 'i-0abc', region: 'us-east-1' });
    expect((await get('/latest/meta-data/nothing', t)).status).toBe(404);
  });

  test('the relay QEMU runs per guest connection joins its stdin/stdout to the server', async () => {
    const t = await token();
    const [command, ...args] = imds.relayCommand().split(' ');
    const relay = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    let reply = '';
    relay.stdout.on('data', (chunk: Buffer) => (reply += chunk.toString()));
    const exited = new Promise((resolve) => relay.on('exit', resolve));
    relay.stdin.end(`GET /latest/meta-data/local-hostname HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token: ${t}\r\nConnection: close\r\n\r\n`);
    await exited;
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(reply).toMatch(/\r\n\r\nhost-1\.ec2\.internal$/);
  });
});
