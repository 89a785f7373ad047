-- One round trip per projector batch: apply_usage_batch folds every company's usage records of
-- a batch in one call, instead of four statements per company from the client.
--
-- SECURITY INVOKER (the default, stated): it runs as the caller (trestle_app), so row-level
-- security applies to every statement in it exactly as to a client's. For each company it sets
-- the tenant (set_config(..., true): local to the transaction) before touching that company's
-- rows, and the policies' WITH CHECK refuses a row of any other company.
--
-- Arguments are parallel arrays of the batch's records, sorted by company; companies[i] owns
-- records firsts[i] .. firsts[i] + counts[i] - 1 (1-based). Returns how many records were new
-- (the rest were duplicates by idempotency key and counted nothing).

CREATE FUNCTION apply_usage_batch(
  topic TEXT,
  companies UUID[], firsts INT4[], counts INT4[],
  keys TEXT[], request_ids UUID[], meters TEXT[], quantities INT8[], costs INT8[],
  versions INT4[], occurred TIMESTAMPTZ[], event_ids UUID[], partitions INT4[], offsets INT8[]
) RETURNS BIGINT
LANGUAGE plpgsql
SECURITY INVOKER
AS $$
DECLARE
  i INT;
  lo INT;
  hi INT;
  fresh BIGINT;
  total BIGINT := 0;
BEGIN
  FOR i IN 1 .. coalesce(array_length(companies, 1), 0) LOOP
    lo := firsts[i];
    hi := firsts[i] + counts[i] - 1;
    PERFORM set_config('trestle.company_id', companies[i]::text, true);
    WITH inserted AS (
      INSERT INTO usage_records (idempotency_key, company_id, request_id, meter, quantity_milli,
          cost_micro_usd, price_book_version, occurred_at, event_id, source_topic,
          source_partition, source_offset)
      SELECT k, companies[i], r, m, q, c, v, o, e, topic, p, f
        FROM unnest(keys[lo:hi], request_ids[lo:hi], meters[lo:hi], quantities[lo:hi],
                    costs[lo:hi], versions[lo:hi], occurred[lo:hi], event_ids[lo:hi],
                    partitions[lo:hi], offsets[lo:hi]) AS t(k, r, m, q, c, v, o, e, p, f)
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING meter, quantity_milli, cost_micro_usd, occurred_at
    ),
    periods AS (
      SELECT 'daily' AS period_type, (occurred_at AT TIME ZONE 'UTC')::date AS period_start,
             meter, quantity_milli, cost_micro_usd
        FROM inserted
      UNION ALL
      SELECT 'monthly', date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date,
             meter, quantity_milli, cost_micro_usd
        FROM inserted
    ),
    folded AS (
      SELECT period_type, period_start,
             coalesce(sum(quantity_milli) FILTER (WHERE meter = 'notebooklm_queries'), 0) AS nblm,
             coalesce(sum(quantity_milli) FILTER (WHERE meter = 'gemini_flash_queries'), 0) AS flash,
             coalesce(sum(quantity_milli) FILTER (WHERE meter = 'gemini_pro_queries'), 0) AS pro,
             coalesce(sum(quantity_milli) FILTER (WHERE meter = 'document_pages'), 0) AS pages,
             coalesce(sum(quantity_milli) FILTER (WHERE meter = 'vision_images'), 0) AS images,
             coalesce(sum(quantity_milli) FILTER (WHERE meter = 'speech_minutes'), 0) AS minutes,
             coalesce(sum(quantity_milli) FILTER (WHERE meter = 'tts_characters'), 0) AS chars,
             coalesce(sum(quantity_milli) FILTER (WHERE meter = 'embedding_tokens'), 0) AS tokens,
             sum(cost_micro_usd) AS cost
        FROM periods
       GROUP BY period_type, period_start
    ),
    upserted AS (
      INSERT INTO company_ai_usage AS u (company_id, period_start, period_type,
          notebooklm_queries, gemini_flash_queries, gemini_pro_queries, document_pages,
          vision_images, speech_minutes, tts_characters, embedding_tokens, total_cost_micro_usd)
      SELECT companies[i], period_start, period_type, div(nblm, 1000), div(flash, 1000),
             div(pro, 1000), div(pages, 1000), div(images, 1000), minutes / 1000,
             div(chars, 1000), div(tokens, 1000), cost
        FROM folded
      ON CONFLICT (company_id, period_start, period_type) DO UPDATE SET
          notebooklm_queries = u.notebooklm_queries + EXCLUDED.notebooklm_queries,
          gemini_flash_queries = u.gemini_flash_queries + EXCLUDED.gemini_flash_queries,
          gemini_pro_queries = u.gemini_pro_queries + EXCLUDED.gemini_pro_queries,
          document_pages = u.document_pages + EXCLUDED.document_pages,
          vision_images = u.vision_images + EXCLUDED.vision_images,
          speech_minutes = u.speech_minutes + EXCLUDED.speech_minutes,
          tts_characters = u.tts_characters + EXCLUDED.tts_characters,
          embedding_tokens = u.embedding_tokens + EXCLUDED.embedding_tokens,
          total_cost_micro_usd = u.total_cost_micro_usd + EXCLUDED.total_cost_micro_usd,
          updated_at = now()
      RETURNING 1
    )
    SELECT count(*) INTO fresh FROM inserted;
    total := total + fresh;
  END LOOP;
  RETURN total;
END
$$;

REVOKE ALL ON FUNCTION apply_usage_batch FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apply_usage_batch TO trestle_app;
