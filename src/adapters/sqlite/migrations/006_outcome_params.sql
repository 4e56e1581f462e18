-- Compact outcomes: a row keeps its reason code and, when the code's message needs more than the
-- action and the row say, a small JSON object of values (`params`, e.g. {"firstSeq":4}); the message
-- is rendered when the logs are read (src/outcomeMessages.ts). `message` is no longer written: it
-- stays for rows recorded before, which are shown as they were.
ALTER TABLE action_outcomes ADD COLUMN params TEXT;
