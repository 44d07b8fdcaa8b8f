import { Worker } from 'node:worker_threads';

import type { Config } from '../config/schema.ts';
import type { RelayEventMap, RelayEventName, RelayEvents } from '../observability/events.ts';
import type { Logger } from '../observability/logger.ts';
import type { SandboxEndpoint } from './factory.ts';
import type { DeliveryThreadData, FromDelivery, ToDelivery } from './thread.ts';

/** The SMTP thread's handle on the delivery thread. */
export class DeliveryThread {
  readonly #worker: Worker;
  #pokeScheduled = false;
  #stopped: Promise<void> | null = null;

  private constructor(worker: Worker) {
    this.#worker = worker;
  }

  static async start(
    config: Readonly<Config>,
    owner: string,
    events: RelayEvents,
    log: Logger,
    sandbox?: SandboxEndpoint,
  ): Promise<DeliveryThread> {
    const workerData: DeliveryThreadData = { config, owner, sandbox };
    let worker: Worker;
    if (import.meta.url.endsWith('.ts')) {
      // Run from source (tests, `npm run dev`): Node 20 does not carry tsx's loader hooks into
      // worker threads, so the thread registers tsx itself before loading the TypeScript entry.
      const api = import.meta.resolve('tsx/esm/api');
      const entry = new URL('./thread.ts', import.meta.url).href;
      const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
      worker = new Worker(boot, { eval: true, workerData });
    } else {
      worker = new Worker(new URL('./thread.js', import.meta.url), { workerData });
    }
    worker.on('message', (msg: FromDelivery) => {
      if (msg.type === 'event') events.emit(msg.name, msg.payload as RelayEventMap[RelayEventName]);
    });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (msg: FromDelivery) => {
        if (msg.type === 'ready') {
          worker.off('message', onMessage);
          worker.off('error', reject);
          resolve();
        }
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    // After start-up a crash of the delivery thread is a bug: a relay that accepts mail it can
    // no longer send must not limp on. Exit like an uncaught exception; the service manager
    // restarts it and nothing acknowledged is lost (it is all in the spool).
    worker.on('error', (err) => {
      log.fatal({ err }, 'delivery:thread-failed');
      process.exit(70);
    });
    return new DeliveryThread(worker);
  }

  /** A message was queued: look for work now. Several pokes in one turn become one message. */
  poke(): void {
    if (this.#pokeScheduled || this.#stopped) return;
    this.#pokeScheduled = true;
    setImmediate(() => {
      this.#pokeScheduled = false;
      this.#worker.postMessage({ type: 'poke' } satisfies ToDelivery);
    });
  }

  /** Lets deliveries in flight finish within graceMs, then ends the thread. */
  stop(graceMs: number): Promise<void> {
    this.#stopped ??= new Promise<void>((resolve) => {
      const done = () => {
        void this.#worker.terminate().then(() => resolve());
      };
      const timer = setTimeout(done, graceMs + 5000);
      this.#worker.on('message', (msg: FromDelivery) => {
        if (msg.type === 'stopped') {
          clearTimeout(timer);
          done();
        }
      });
      this.#worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.#worker.postMessage({ type: 'stop', graceMs } satisfies ToDelivery);
    });
    return this.#stopped;
  }
}
