-- Sending budgets shared by every node (scheduler/ledger.ts): one row per message a budget key
-- (mailbox, tenant, device) spent, read over the last minute and the last day, and the pauses a
-- quota refusal puts on a key, and concurrency slots (Graph's four requests at once per app)
-- held with a lease. Rows older than a day are deleted as nodes go.
CREATE TABLE budget_spends (
  id BIGSERIAL PRIMARY KEY,
  key TEXT NOT NULL,
  at BIGINT NOT NULL,
  recipients INTEGER NOT NULL
);
CREATE INDEX budget_spends_key_at ON budget_spends (key, at);
CREATE INDEX budget_spends_at ON budget_spends (at);
CREATE TABLE budget_pauses (
  key TEXT PRIMARY KEY,
  until BIGINT NOT NULL,
  reason TEXT NOT NULL
);
CREATE TABLE budget_slots (
  id BIGSERIAL PRIMARY KEY,
  key TEXT NOT NULL,
  until BIGINT NOT NULL
);
CREATE INDEX budget_slots_key ON budget_slots (key, until);
