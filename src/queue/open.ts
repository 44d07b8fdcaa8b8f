import type { Config } from '../config/schema.ts';
import { parseSize } from '../util/units.ts';
import { PostgresQueueStore } from './postgres/store.ts';
import { SqliteQueueStore } from './sqlite/store.ts';
import type { QueueStore } from './store.ts';

export interface OpenStoreOptions {
  /**
   * The relay's main thread at start: release leases left by a previous run of this process.
   * SQLite only: on PostgreSQL other nodes hold live leases, and a dead node's simply expire.
   */
  recoverLeases?: boolean;
  /** SQLite: whether this connection runs WAL checkpoints (one connection should). */
  checkpoint?: boolean;
}

/** The one place that knows which backend the configuration names. */
export async function openStore(
  config: Readonly<Config>,
  options: OpenStoreOptions = {},
): Promise<QueueStore> {
  const s = config.store;
  if (s.kind === 'postgres')
    return PostgresQueueStore.open({ url: s.url!, maxConnections: s.maxConnections });
  return SqliteQueueStore.open({
    path: s.path!,
    recoverLeases: options.recoverLeases ?? false,
    ...(options.checkpoint === undefined ? {} : { checkpoint: options.checkpoint }),
    maxSizeBytes: s.maxSize ? parseSize(s.maxSize) : undefined,
  });
}
