-- A consumer's progress is its cursor; "checkpoint" names the signed audit heads alone.
ALTER TABLE consumer_checkpoints RENAME TO consumer_cursors;
