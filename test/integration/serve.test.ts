import { request } from 'node:https';
import { connect as connectTcp, createServer, Socket } from 'node:net';
import { connect as connectTls, TLSSocket } from 'node:tls';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../support/cli';
import { describeWith, tool } from '../support/prereq';
import { RunningServe, startServe } from '../support/serve';
import { makeTestTls, TestTls } from '../support/test-ca';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

describeWith('serve: a local store over HTTPS', [tool('openssl')], () => {
  const work = mkdtempSync(join(tmpdir(), 'serve-test-'));
  const store = join(work, 'store');
  const image = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));
  let tls: TestTls;
  let server: RunningServe;

  /** One request on a fresh connection, to `server` or to `options.on`. */
  const get = (path: string, options: { method?: string; headers?: Record<string, string>; on?: RunningServe } = {}): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const url = new URL((options.on ?? server).url);
      const req = request(
        { host: url.hostname, port: url.port, path, method: options.method ?? 'GET', headers: options.headers, ca: readFileSync(tls.caCert), agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        },
      );
      req.on('error', reject);
      req.end();
    });

  beforeAll(async () => {
    mkdirSync(join(store, 'streams', 'v1'), { recursive: true });
    mkdirSync(join(store, 'hotdog', 'images', '.index.json.lock'), { recursive: true });
    writeFileSync(join(store, 'streams', 'v1', 'index.json'), '{"format":"index:1.0","index":{}}\n');
    writeFileSync(join(store, 'hotdog', 'images', 'a.tar.gz'), image);
    writeFileSync(join(store, 'hotdog', 'images', 'index.json'), '{}\n');
    writeFileSync(join(work, 'secret.txt'), 'outside the store\n');
    symlinkSync(join(work, 'secret.txt'), join(store, 'hotdog', 'images', 'link.txt'));
    tls = makeTestTls(work);
    server = await startServe(store, tls.cert, tls.key);
  }, 60000);

  afterAll(async () => {
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('serves the streams with their type, length and a short cache rule', async () => {
    const reply = await get('/streams/v1/index.json');
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe('{"format":"index:1.0","index":{}}\n');
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.headers['content-length']).toBe(String(reply.body.length));
    expect(reply.headers['cache-control']).toMatch(/max-age=60\b/);
    expect((await get('/hotdog/images/index.json')).headers['cache-control']).toMatch(/max-age=60\b/);
  });

  test('serves images whole, by range, and to HEAD, cached as immutable', async () => {
    const whole = await get('/hotdog/images/a.tar.gz');
    expect(whole.status).toBe(200);
    expect(whole.body.equals(image)).toBe(true);
    expect(whole.headers['content-type']).toBe('application/gzip');
    expect(whole.headers['content-length']).toBe('4096');
    expect(whole.headers['cache-control']).toMatch(/immutable/);
    const part = await get('/hotdog/images/a.tar.gz', { headers: { Range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 100-199/4096');
    expect(part.body.equals(image.subarray(100, 200))).toBe(true);
    const tail = await get('/hotdog/images/a.tar.gz', { headers: { Range: 'bytes=-10' } });
    expect(tail.body.equals(image.subarray(4086))).toBe(true);
    expect((await get('/hotdog/images/a.tar.gz', { headers: { Range: 'bytes=5000-' } })).status).toBe(416);
    const head = await get('/hotdog/images/a.tar.gz', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('4096');
    expect(head.body.length).toBe(0);
  });

  test('refuses what is outside the store, hidden, a folder, or not a read', async () => {
    for (const path of [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/hotdog/../../secret.txt',
      '/hotdog/images/link.txt',
      '/hotdog/images/.index.json.lock',
      '/hotdog/images/',
      '/',
      '/nothing-here.json',
      '/hotdog%5c..%5c..%5csecret.txt',
    ]) {
      const reply = await get(path);
      expect({ path, status: reply.status }).toEqual({ path, status: 404 });
      expect(reply.body.toString()).not.toMatch(/outside the store/);
    }
    const post = await get('/streams/v1/index.json', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });

  describe('limits: idle and stalled connections are closed, crowds are turned away', () => {
    const big = 64 * 1024 * 1024;
    let quick: RunningServe;
    let narrow: RunningServe;
    const open: Socket[] = [];

    const portOf = (running: RunningServe) => Number(new URL(running.url).port);
    /** A TLS connection to `running`, resolved once the handshake is done. */
    const tlsTo = (running: RunningServe): Promise<TLSSocket> =>
      new Promise((resolve, reject) => {
        const socket = connectTls({ host: '127.0.0.1', port: portOf(running), servername: 'localhost', ca: readFileSync(tls.caCert) });
        open.push(socket);
        socket.once('secureConnect', () => resolve(socket));
        socket.once('error', reject);
        socket.once('close', () => reject(new Error('closed before the handshake')));
      });
    const closed = (socket: Socket) =>
      new Promise<void>((resolve) => {
        if (socket.destroyed) return resolve();
        socket.on('error', () => undefined);
        socket.once('close', () => resolve());
      });

    beforeAll(async () => {
      writeFileSync(join(store, 'hotdog', 'images', 'big.tar.gz'), Buffer.alloc(big, 7));
      quick = await startServe(store, tls.cert, tls.key, ['--idle-timeout', '1']);
      narrow = await startServe(store, tls.cert, tls.key, ['--max-connections', '2', '--idle-timeout', '60']);
    }, 60000);

    afterAll(async () => {
      for (const socket of open) socket.destroy();
      await quick?.stop();
      await narrow?.stop();
    });

    // Node's own defaults would keep these open for a minute or more; the test's timeout is far shorter.
    test('a TLS connection that sends no request is closed after --idle-timeout', async () => {
      const socket = await tlsTo(quick);
      await closed(socket);
      expect(socket.destroyed).toBe(true);
    }, 15000);

    test('a TCP connection that never starts the TLS handshake is closed too', async () => {
      const socket = connectTcp({ host: '127.0.0.1', port: portOf(quick) });
      open.push(socket);
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      await closed(socket);
      expect(socket.destroyed).toBe(true);
    }, 15000);

    test('a client that stops reading a download is cut off instead of holding the connection', async () => {
      const socket = await tlsTo(quick);
      let received = 0;
      let paused = false;
      // Stop reading at the first bytes: over loopback 64 MiB can arrive in a fraction of a
      // second, so a pause after a fixed delay would test nothing on a fast machine.
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (!paused) {
          paused = true;
          socket.pause();
        }
      });
      socket.on('error', () => undefined);
      socket.write('GET /hotdog/images/big.tar.gz HTTP/1.1\r\nHost: localhost\r\n\r\n');
      await new Promise<void>((resolve) => {
        const wait = setInterval(() => paused && (clearInterval(wait), resolve()), 10);
      });
      // Several idle timeouts without reading; then read whatever the server still sends.
      await new Promise((resolve) => setTimeout(resolve, 4000));
      socket.resume();
      await closed(socket);
      expect(received).toBeGreaterThan(0);
      expect(received).toBeLessThan(big);
    }, 30000);

    test('connections beyond --max-connections are closed at once; the ones inside it are served', async () => {
      const first = await tlsTo(narrow);
      const second = await tlsTo(narrow);
      await expect(tlsTo(narrow)).rejects.toThrow();
      second.destroy();
      // Once the server has seen the close, there is room again.
      let reply: Reply | undefined;
      for (let attempt = 0; attempt < 50 && reply === undefined; attempt++) {
        reply = await get('/streams/v1/index.json', { on: narrow }).catch(() => undefined);
        if (reply === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(reply?.status).toBe(200);
      expect(first.destroyed).toBe(false);
    }, 30000);
  });

  test('usage errors are one line and exit 2; a busy port is one line and exit 1', async () => {
    const cases: [string[], RegExp, number][] = [
      [['--local-storage-path', store, '--tls-key', tls.key], /required option '--tls-cert/, 2],
      [['--local-storage-path', join(work, 'none'), '--tls-cert', tls.cert, '--tls-key', tls.key], /is not a folder/, 2],
      [['--local-storage-path', store, '--tls-cert', join(work, 'none.pem'), '--tls-key', tls.key], /--tls-cert ".*none.pem": no such file/, 2],
      [['--local-storage-path', store, '--tls-cert', tls.key, '--tls-key', tls.key], /--tls-cert ".*" is not a PEM certificate/, 2],
      [['--local-storage-path', store, '--tls-cert', tls.cert, '--tls-key', tls.key, '--port', '99999'], /--port "99999" is not a port number/, 2],
      [['--local-storage-path', store, '--tls-cert', tls.cert, '--tls-key', tls.key, '--max-connections', '0'], /--max-connections "0" is not a number of connections/, 2],
      [['--local-storage-path', store, '--tls-cert', tls.cert, '--tls-key', tls.key, '--idle-timeout', '-1'], /--idle-timeout "-1" is not a number of seconds/, 2],
      [['--local-storage-path', store, '--tls-cert', tls.cert, '--tls-key', tls.key, '--port', '1', '--port', '2'], /--port is given twice/, 2],
    ];
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
    const busyPort = String((busy.address() as { port: number }).port);
    cases.push([['--local-storage-path', store, '--tls-cert', tls.cert, '--tls-key', tls.key, '--port', busyPort], /cannot listen on 127\.0\.0\.1:\d+: the address is in use/, 1]);
    try {
      for (const [args, says, exit] of cases) {
        const result = await runCommand('serve', args, { timeoutMs: 30000 });
        const lines = result.stderr.trim().split('\n');
        expect({ args, lines: lines.length, code: result.code }).toEqual({ args, lines: 1, code: exit });
        expect(lines[0]).toMatch(/^serve: /);
        expect(lines[0]).toMatch(says);
      }
    } finally {
      busy.close();
    }
  }, 120000);
});
