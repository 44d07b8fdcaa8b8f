-- Queue schema for PostgreSQL: the same tables as the SQLite spool (through its 0005), so one
-- contract suite holds for both. Times are milliseconds since the epoch (BIGINT).
CREATE TABLE messages (
  id TEXT PRIMARY KEY,
  received_at BIGINT NOT NULL,
  mail_from TEXT NOT NULL,
  dsn_ret TEXT,
  dsn_envid TEXT,
  smtputf8 BOOLEAN NOT NULL,
  body_type TEXT NOT NULL,
  client_json JSONB NOT NULL,
  route TEXT NOT NULL,
  message_id_header TEXT,
  size INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  last_reply TEXT,
  lease_owner TEXT,
  lease_until BIGINT,
  finished_at BIGINT,
  held BOOLEAN NOT NULL DEFAULT false,
  throttle_reason TEXT,
  mailbox TEXT,
  delay_notified BOOLEAN NOT NULL DEFAULT false,
  dedup_key TEXT
);
CREATE INDEX messages_due ON messages (state, next_attempt_at);
CREATE INDEX messages_finished ON messages (state, finished_at);
CREATE INDEX messages_sender ON messages (mail_from);
CREATE INDEX messages_dedup ON messages (dedup_key, received_at) WHERE dedup_key IS NOT NULL;
CREATE TABLE bodies (
  message_id TEXT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
  data BYTEA NOT NULL
);
CREATE TABLE recipients (
  id BIGSERIAL PRIMARY KEY,
  message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  notify TEXT,
  orcpt TEXT,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_reply TEXT,
  updated_at BIGINT NOT NULL
);
CREATE INDEX recipients_message ON recipients (message_id);
CREATE INDEX recipients_address ON recipients (address);
CREATE TABLE attempts (
  id BIGSERIAL PRIMARY KEY,
  message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  recipient_id BIGINT NOT NULL,
  started_at BIGINT NOT NULL,
  duration_ms INTEGER NOT NULL,
  transport TEXT NOT NULL,
  upstream TEXT,
  outcome TEXT NOT NULL,
  reply TEXT NOT NULL,
  category TEXT NOT NULL
);
CREATE INDEX attempts_message ON attempts (message_id);
CREATE TABLE trace_events (
  id BIGSERIAL PRIMARY KEY,
  at BIGINT NOT NULL,
  message_id TEXT NOT NULL,
  event TEXT NOT NULL,
  detail TEXT
);
CREATE INDEX trace_events_message ON trace_events (message_id);
CREATE INDEX trace_events_at ON trace_events (at);
CREATE TABLE refusals (
  id BIGSERIAL PRIMARY KEY,
  at BIGINT NOT NULL,
  ip TEXT NOT NULL,
  listener TEXT NOT NULL,
  "user" TEXT,
  phase TEXT NOT NULL,
  sender TEXT,
  recipient TEXT,
  reply TEXT NOT NULL
);
CREATE INDEX refusals_at ON refusals (at);
