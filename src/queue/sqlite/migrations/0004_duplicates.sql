-- Duplicate suppression: a hash of Message-ID, sender, recipients and client, looked up for a
-- short window at intake (a device that resends after a timeout).
ALTER TABLE messages ADD COLUMN dedup_key TEXT;
CREATE INDEX messages_dedup ON messages (dedup_key, received_at) WHERE dedup_key IS NOT NULL;
