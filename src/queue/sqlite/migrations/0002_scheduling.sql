-- Scheduling: a message held by an operator is never claimed; a message the scheduler put back
-- because its mailbox had no budget says why (shown by queue list) and which mailbox sends it.
ALTER TABLE messages ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN throttle_reason TEXT;
ALTER TABLE messages ADD COLUMN mailbox TEXT;
CREATE INDEX messages_sender ON messages (mail_from);
