import { hostToolEnv } from '../../lib/builder/command-env';

describe('the environments of commands that touch the image', () => {
  const host = {
    PATH: '/opt/tools/bin:/usr/bin',
    TMPDIR: '/scratch',
    https_proxy: 'http://proxy.example:3128',
    AWS_SECRET_ACCESS_KEY: 'secret-key',
    AWS_SESSION_TOKEN: 'token',
    TAILOR_REGISTRY_PASSWORD: 'registry-password',
    TAILOR_TEST_PASSWORD: 'user-password',
    HOME: '/home/builder',
    LANG: 'de_DE.UTF-8',
  };

  test('a host tool gets the named variables, a C locale and its own settings, nothing else', () => {
    expect(hostToolEnv({ MKE2FS_CONFIG: '/x/mke2fs.conf' }, host)).toEqual({
      PATH: '/opt/tools/bin:/usr/bin',
      TMPDIR: '/scratch',
      https_proxy: 'http://proxy.example:3128',
      HOME: '/root',
      LC_ALL: 'C.UTF-8',
      LANG: 'C.UTF-8',
      MKE2FS_CONFIG: '/x/mke2fs.conf',
    });
  });

  test('without a PATH on the host, the standard one', () => {
    expect(hostToolEnv({}, {}).PATH).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  });
});
