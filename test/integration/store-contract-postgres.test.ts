import { after } from 'node:test';

import { PostgresQueueStore } from '../../src/queue/postgres/store.ts';
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
