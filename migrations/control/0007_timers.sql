-- Durable timers (the `timers` projection of the `timers` topic, and the timer service's
-- firing state). A workflow schedules a timer by publishing TimerScheduled in its own
-- transaction; the projection folds it here; the timer service fires due timers (publishes the
-- stored event) and marks them fired. Pending timers cost one row each: millions are fine.

CREATE TABLE timers (
  company_id UUID NOT NULL,
  timer_id TEXT NOT NULL,
  due_at TIMESTAMPTZ NOT NULL,
  -- The event to publish: logical topic, record key, Avro single-object bytes.
  topic TEXT NOT NULL,
  record_key TEXT NOT NULL,
  event BYTEA NOT NULL,
  -- The TimerScheduled (or TimerCancelled) event that last set this row.
  set_by UUID NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'fired', 'cancelled')),
  fired_at TIMESTAMPTZ,
  PRIMARY KEY (company_id, timer_id)
);

-- The timer service's one question: which pending timers are due.
CREATE INDEX idx_timers_pending_due ON timers (due_at) WHERE state = 'pending';

-- A batch of timer events in log order, one round trip. kinds[i] is 1 for TimerScheduled
-- (inserts, or replaces a pending timer of the same id; a fired or cancelled one is not
-- revived), 2 for TimerCancelled (a pending timer is cancelled; one never seen is recorded
-- as cancelled, so a later schedule of the same id does not revive it) and 3 for TimerFired
-- (the timer service published it: fired, so a rebuild of this table does not fire it
-- again; dues[i] is then when it fired). Returns how many changed nothing (re-published,
-- late, or already marked by the service).
CREATE FUNCTION apply_timers(
  kinds INT4[], companies UUID[], ids TEXT[], dues TIMESTAMPTZ[], topics TEXT[],
  record_keys TEXT[], events BYTEA[], set_bys UUID[]
) RETURNS BIGINT
LANGUAGE plpgsql
SECURITY INVOKER
AS $$
DECLARE
  i INT;
  n BIGINT;
  unchanged BIGINT := 0;
BEGIN
  FOR i IN 1 .. coalesce(array_length(kinds, 1), 0) LOOP
    IF kinds[i] = 1 THEN
      INSERT INTO timers (company_id, timer_id, due_at, topic, record_key, event, set_by)
        VALUES (companies[i], ids[i], dues[i], topics[i], record_keys[i], events[i], set_bys[i])
        ON CONFLICT (company_id, timer_id) DO UPDATE
          SET due_at = EXCLUDED.due_at, topic = EXCLUDED.topic,
              record_key = EXCLUDED.record_key, event = EXCLUDED.event, set_by = EXCLUDED.set_by
          WHERE timers.state = 'pending' AND timers.set_by <> EXCLUDED.set_by;
    ELSIF kinds[i] = 3 THEN
      INSERT INTO timers (company_id, timer_id, due_at, topic, record_key, event, set_by, state, fired_at)
        VALUES (companies[i], ids[i], 'epoch', '', '', '', set_bys[i], 'fired', dues[i])
        ON CONFLICT (company_id, timer_id) DO UPDATE
          SET state = 'fired', fired_at = EXCLUDED.fired_at
          WHERE timers.state = 'pending';
    ELSE
      INSERT INTO timers (company_id, timer_id, due_at, topic, record_key, event, set_by, state)
        VALUES (companies[i], ids[i], 'epoch', '', '', '', set_bys[i], 'cancelled')
        ON CONFLICT (company_id, timer_id) DO UPDATE
          SET state = 'cancelled', set_by = EXCLUDED.set_by
          WHERE timers.state = 'pending';
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
      unchanged := unchanged + 1;
    END IF;
  END LOOP;
  RETURN unchanged;
END;
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON timers TO trestle_app;
GRANT EXECUTE ON FUNCTION apply_timers TO trestle_app;
