import type { RouteConfig } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import { CaptureTransport } from './capture.ts';
import { SmtpTransport } from './smtp.ts';
import type { Transport } from './transport.ts';

/** Builds the transport a route names. New kinds (Microsoft 365 methods) are added here. */
export function createTransport(route: RouteConfig, options: { heloName: string; log: Logger }): Transport {
  const t = route.transport;
  switch (t.kind) {
    case 'smtp':
      return new SmtpTransport(t, options);
    case 'capture':
      return new CaptureTransport(t.dir!);
  }
}
