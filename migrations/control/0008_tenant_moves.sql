-- Moving a tenant between shards (docs/tenancy.md, "Moving a tenant between shards"): a move
-- re-applies the usage records the decisions gave to other shards in the target shard, then
-- re-labels those decisions, so the decision tables stay the one truth of where each record is
-- (a rebuild of any shard then puts every record where the move left it). The re-labelled runs
-- keep where they were and which move re-labelled them, so an interrupted move can still find
-- the source rows it must compare and remove.

ALTER TABLE usage_shard_epochs
  ADD COLUMN moved_from INTEGER, -- the shard the run was decided to before a move; NULL: never moved
  ADD COLUMN moved_by UUID;      -- the move (TenantMoveStarted.move_id) that re-labelled it
