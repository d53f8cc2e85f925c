-- A consumer's progress is its cursor; "checkpoint" names the signed audit heads alone.
ALTER TABLE consumer_checkpoints RENAME TO consumer_cursors;
ALTER INDEX consumer_checkpoints_pkey RENAME TO consumer_cursors_pkey;
ALTER TABLE consumer_cursors RENAME CONSTRAINT consumer_checkpoints_position_check TO consumer_cursors_position_check;
