-- A delay notice (DSN Action: delayed) is sent at most once per message.
ALTER TABLE messages ADD COLUMN delay_notified INTEGER NOT NULL DEFAULT 0;
