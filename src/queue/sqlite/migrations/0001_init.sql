-- Queue schema v1. One row per message, one per recipient, one per attempt per recipient.
-- Bodies live in their own table so listing the queue never reads message bytes.
CREATE TABLE messages (
  id TEXT PRIMARY KEY,
  received_at INTEGER NOT NULL,
  mail_from TEXT NOT NULL,
  dsn_ret TEXT,
  dsn_envid TEXT,
  smtputf8 INTEGER NOT NULL,
  body_type TEXT NOT NULL,
  client_json TEXT NOT NULL,
  route TEXT NOT NULL,
  message_id_header TEXT,
  size INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  last_reply TEXT,
  lease_owner TEXT,
  lease_until INTEGER,
  finished_at INTEGER
);
CREATE INDEX messages_due ON messages (state, next_attempt_at);
CREATE INDEX messages_finished ON messages (state, finished_at);

CREATE TABLE bodies (
  message_id TEXT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
  data BLOB NOT NULL
);

CREATE TABLE recipients (
  id INTEGER PRIMARY KEY,
  message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  notify TEXT,
  orcpt TEXT,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_reply TEXT,
  updated_at INTEGER NOT NULL
);
CREATE INDEX recipients_message ON recipients (message_id);

CREATE TABLE attempts (
  id INTEGER PRIMARY KEY,
  message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  recipient_id INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  transport TEXT NOT NULL,
  upstream TEXT,
  outcome TEXT NOT NULL,
  reply TEXT NOT NULL,
  category TEXT NOT NULL
);
CREATE INDEX attempts_message ON attempts (message_id);
