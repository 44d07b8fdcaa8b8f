import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { SqliteQueueStore } from '../../src/queue/sqlite/store.ts';
import { ledgerContract } from '../helpers/ledger-contract.ts';
import { tempDir } from '../helpers/relay.ts';
import { storeContract } from '../helpers/store-contract.ts';

storeContract({
  name: 'sqlite',
  async create() {
    const dir = tempDir('bh-store-');
    const path = join(dir, 'queue.db');
    return {
      store: SqliteQueueStore.open({ path }),
      reopen: async () => SqliteQueueStore.open({ path }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
});

ledgerContract({
  name: 'sqlite',
  async create() {
    const dir = tempDir('bh-ledger-');
    const store = SqliteQueueStore.open({ path: join(dir, 'queue.db') });
    return {
      ledger: store.ledger(),
      cleanup: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
