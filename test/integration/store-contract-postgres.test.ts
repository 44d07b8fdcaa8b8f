import { after } from 'node:test';

import { PostgresQueueStore } from '../../src/queue/postgres/store.ts';
import { ledgerContract } from '../helpers/ledger-contract.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { storeContract } from '../helpers/store-contract.ts';

const pg = await startTestPostgres();
after(() => pg.stop());

storeContract({
  name: 'postgres',
  async create() {
    const url = await pg.database();
    return {
      store: await PostgresQueueStore.open({ url }),
      reopen: async () => PostgresQueueStore.open({ url }),
      cleanup: async () => undefined,
    };
  },
});

ledgerContract({
  name: 'postgres',
  async create() {
    const store = await PostgresQueueStore.open({ url: await pg.database() });
    return { ledger: store.ledger(), cleanup: () => store.close() };
  },
});
