-- Message trace: events that the message, recipient and attempt rows do not already say
-- (throttled, held, released, bounced, duplicate), and refused SMTP commands, which leave no
-- message behind. Both are purged with finished messages (store.keepDelivered).
CREATE TABLE trace_events (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  message_id TEXT NOT NULL,
  event TEXT NOT NULL,
  detail TEXT
);
CREATE INDEX trace_events_message ON trace_events (message_id);
CREATE INDEX trace_events_at ON trace_events (at);

CREATE TABLE refusals (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  ip TEXT NOT NULL,
  listener TEXT NOT NULL,
  user TEXT,
  phase TEXT NOT NULL,
  sender TEXT,
  recipient TEXT,
  reply TEXT NOT NULL
);
CREATE INDEX refusals_at ON refusals (at);
CREATE INDEX recipients_address ON recipients (address);
