import { escapesDecode, redactUrl, redactUrls, safeDecode, splitCredentials } from '../../lib/core/redact';

describe('redactUrl: credentials never shown', () => {
  test.each([
    ['http://user:hunter2@apt.example.com/repo', 'http://***@apt.example.com/repo'],
    ['https://TOKEN123@apt.example.com', 'https://***@apt.example.com'],
    ['s3://key:secret@bucket/prefix', 's3://***@bucket/prefix'],
    ['ftp://u:p@host:99999/', 'ftp://***@host:99999/'],
    // an "@" inside the password (not escaped): the host is after the last "@"
    ['http://u:p@ss@host/x', 'http://***@host/x'],
    // a "/" inside the password ends the authority early; the secret is still hidden
    ['http://u:pa/ss@host/x', 'http://***@host/x'],
    ['http://u:p%ZZ@host/', 'http://***@host/'],
    ['https://host/path?X-Amz-Signature=abc&x=1', 'https://host/path?X-Amz-Signature=***&x=1'],
    ['https://host/p?token=abc#frag', 'https://host/p?token=***#frag'],
    ['https://host/p?access_key=abc&page=2', 'https://host/p?access_key=***&page=2'],
  ])('%s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });

  test.each([
    'http://deb.debian.org/debian',
    'https://apt.example.com:8443/repo/',
    's3://acme-images/apt',
    'http://127.0.0.1:8080/a@b', // an "@" in the path is no credential (host:port has only digits)
    'not a url at all',
    'apt.example.com',
    'https://host/p?page=2&sort=name',
  ])('leaves %s as it is', (url) => {
    expect(redactUrl(url)).toBe(url);
  });

  test('redactUrls hides every URL in a text and leaves the rest', () => {
    const text = 'mirror http://a:b@m.example/debian is not reachable (fetch http://c:d@m.example/debian/dists/x failed); see "https://e:f@x.example"';
    const shown = redactUrls(text);
    expect(shown).toBe('mirror http://***@m.example/debian is not reachable (fetch http://***@m.example/debian/dists/x failed); see "https://***@x.example"');
    for (const secret of ['a:b', 'c:d', 'e:f']) expect(shown).not.toContain(secret);
  });
});

describe('splitCredentials', () => {
  test('returns the URL without them and the decoded login and password', () => {
    expect(splitCredentials('https://us%40er:p%3Ass@apt.example.com/repo')).toEqual({
      url: 'https://apt.example.com/repo',
      credentials: { login: 'us@er', password: 'p:ss' },
    });
  });

  test('a URL without credentials comes back unchanged', () => {
    expect(splitCredentials('http://deb.debian.org/debian')).toEqual({ url: 'http://deb.debian.org/debian' });
  });

  test('a malformed escape is taken as written, not thrown', () => {
    expect(splitCredentials('http://u:p%ZZ@host/').credentials).toEqual({ login: 'u', password: 'p%ZZ' });
    expect(safeDecode('%E0%A4%A')).toBe('%E0%A4%A');
    expect(escapesDecode('p%ZZ')).toBe(false);
    expect(escapesDecode('p%20q')).toBe(true);
  });

  test('no URL at all throws', () => {
    expect(() => splitCredentials('apt.example.com')).toThrow('Invalid URL');
  });
});
