import { randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * An AWS JSON-protocol service stand-in on 127.0.0.1 (POST /, X-Amz-Target:
 * <prefix>.<Operation>): it records every request and answers with `answer()`; an
 * operation in `errors` is refused with that error type, and an exception thrown by
 * `answer()` becomes a 400 of `failureType` (or of the exception's own `type`).
 */
export abstract class FakeJsonService {
  readonly requests: Array<{ operation: string; body: any }> = [];
  /** Operation -> error __type to answer with (e.g. AccessDeniedException). */
  errors = new Map<string, string>();
  private server?: Server;

  constructor(
    private readonly targetPrefix: string,
    private readonly contentType: string,
    private readonly failureType: string,
  ) {}

  protected abstract answer(operation: string, body: any): unknown;

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  operations(name: string): any[] {
    return this.requests.filter((r) => r.operation === name).map((r) => r.body);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let text = '';
    req.on('data', (chunk) => (text += chunk));
    req.on('end', () => {
      const operation = String(req.headers['x-amz-target'] ?? '').replace(`${this.targetPrefix}.`, '');
      const body = text ? JSON.parse(text) : {};
      this.requests.push({ operation, body });
      const reply = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': this.contentType, 'x-amzn-requestid': randomUUID() });
        res.end(JSON.stringify(payload));
      };
      const error = this.errors.get(operation);
      if (error) return reply(400, { __type: error, message: `${operation} refused by the test` });
      try {
        reply(200, this.answer(operation, body));
      } catch (e) {
        reply(400, { __type: (e as { type?: string }).type ?? this.failureType, message: (e as Error).message });
      }
    });
  }
}
