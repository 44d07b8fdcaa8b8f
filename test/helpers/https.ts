import { request } from 'node:https';

export interface HttpsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

/** A small HTTPS client that trusts the given CA (the sandbox's), never one that skips verification. */
export function https(
  method: string,
  url: string,
  opts: { ca: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca: opts.ca, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({
          status: res.statusCode!,
          headers: res.headers,
          text,
          json: () => JSON.parse(text) as Record<string, unknown>,
        });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
