-- Billing of a shard database: monthly statements per company, priced from a versioned price
-- book (docs/billing.md).
--
-- The billing projection folds two topics here, exactly once (offsets in projector_offsets,
-- under the projector name "billing"):
--   * price-books -> price_books + price_book_tiers: every version ever published. Platform
--     data, the same in every shard and readable by every tenant: no row-level security.
--   * tenants (CompanyRegistered) -> company_tiers: each company's tier. Company-scoped, so
--     row-level security is enabled and FORCED like every company-scoped table.
--
-- A statement is not stored: billing_statements is a view over the monthly company_ai_usage
-- row (folded once, by the usage projection), the company's tier and the price-book version in
-- effect for the month. So usage is counted in exactly one place, and a statement can never
-- disagree with the usage it bills.

CREATE TABLE price_books (
  version INTEGER PRIMARY KEY CHECK (version >= 1),
  -- First month it prices (the first of the month). A month is priced by the highest version
  -- whose effective_from is at or before it.
  effective_from DATE NOT NULL CHECK (extract(day FROM effective_from) = 1),
  -- Overage (AI cost beyond the tier's included allowance) is charged at
  -- cost * (10000 + overage_markup_bp) / 10000, rounded down to a micro-USD.
  overage_markup_bp INTEGER NOT NULL CHECK (overage_markup_bp >= -10000),
  -- Unit price of each meter, micro-USD (what the engine prices usage with).
  notebooklm_queries_unit_micro_usd BIGINT NOT NULL,
  gemini_flash_queries_unit_micro_usd BIGINT NOT NULL,
  gemini_pro_queries_unit_micro_usd BIGINT NOT NULL,
  document_pages_unit_micro_usd BIGINT NOT NULL,
  vision_images_unit_micro_usd BIGINT NOT NULL,
  speech_minutes_unit_micro_usd BIGINT NOT NULL,
  tts_characters_unit_micro_usd BIGINT NOT NULL,
  embedding_tokens_unit_micro_usd BIGINT NOT NULL,
  note TEXT NOT NULL,
  -- the PriceBookPublished event it came from
  event_id UUID NOT NULL,
  published_at TIMESTAMPTZ NOT NULL,
  source_topic TEXT NOT NULL,
  source_partition INTEGER NOT NULL,
  source_offset BIGINT NOT NULL
);

CREATE INDEX idx_price_books_effective ON price_books (effective_from, version DESC);

-- Per tier of a version: the monthly price and the AI cost it includes.
CREATE TABLE price_book_tiers (
  version INTEGER NOT NULL REFERENCES price_books (version),
  tier TEXT NOT NULL,
  monthly_price_micro_usd BIGINT NOT NULL CHECK (monthly_price_micro_usd >= 0),
  included_ai_cost_micro_usd BIGINT NOT NULL CHECK (included_ai_cost_micro_usd >= 0),
  PRIMARY KEY (version, tier)
);

-- Each company's tier, from CompanyRegistered.
CREATE TABLE company_tiers (
  company_id UUID PRIMARY KEY,
  tier TEXT NOT NULL,
  -- its first statement is for the month it registered in
  registered_at TIMESTAMPTZ NOT NULL,
  -- the CompanyRegistered event the tier came from
  event_id UUID NOT NULL,
  source_topic TEXT NOT NULL,
  source_partition INTEGER NOT NULL,
  source_offset BIGINT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE company_tiers ENABLE ROW LEVEL SECURITY;
ALTER TABLE company_tiers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON company_tiers
  USING (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid)
  WITH CHECK (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid);

-- One round trip for a batch's registrations, in log order. SECURITY INVOKER, like
-- apply_usage_batch: it runs as trestle_app, sets each company's tenant before writing its
-- row, and the policy refuses a row of any other company. A re-published registration (same
-- event_id) changes nothing; a later registration of the same company (a new event_id) takes
-- its tier, and the company keeps its earliest registration time. Returns how many changed a
-- row (the rest were duplicates).
CREATE FUNCTION apply_company_tiers(
  topic TEXT, companies UUID[], tiers TEXT[], registered TIMESTAMPTZ[], event_ids UUID[],
  partitions INT4[], offsets INT8[]
) RETURNS BIGINT
LANGUAGE plpgsql
SECURITY INVOKER
AS $$
DECLARE
  i INT;
  changed INT;
  total BIGINT := 0;
BEGIN
  FOR i IN 1 .. coalesce(array_length(companies, 1), 0) LOOP
    PERFORM set_config('trestle.company_id', companies[i]::text, true);
    INSERT INTO company_tiers AS t (company_id, tier, registered_at, event_id, source_topic,
        source_partition, source_offset)
    VALUES (companies[i], tiers[i], registered[i], event_ids[i], topic, partitions[i], offsets[i])
    ON CONFLICT (company_id) DO UPDATE SET
        tier = EXCLUDED.tier,
        registered_at = LEAST(t.registered_at, EXCLUDED.registered_at),
        event_id = EXCLUDED.event_id,
        source_topic = EXCLUDED.source_topic,
        source_partition = EXCLUDED.source_partition,
        source_offset = EXCLUDED.source_offset,
        updated_at = now()
      WHERE t.event_id <> EXCLUDED.event_id;
    GET DIAGNOSTICS changed = ROW_COUNT;
    total := total + changed;
  END LOOP;
  RETURN total;
END
$$;

REVOKE ALL ON FUNCTION apply_company_tiers FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apply_company_tiers TO trestle_app;

-- A company's statement for every month from the one it registered in to the current one (and
-- any month it has usage in): the tier price of the price-book version in effect for the
-- month, the month's AI cost (company_ai_usage, monthly), the allowance the tier includes, and
-- the overage beyond it charged at the version's markup. All money in micro-USD.
--
--   overage_micro_usd         = max(ai_cost - included, 0)
--   overage_charge_micro_usd  = floor(overage * (10000 + overage_markup_bp) / 10000)
--   total_due_micro_usd       = tier_price + overage_charge
--   margin_micro_usd          = total_due - ai_cost
--
-- A month before the first price book's effective_from has a NULL price_book_version and NULL
-- amounts: unpriced, never priced as zero.
--
-- security_invoker: the view reads the tables with the reader's rights, so row-level security
-- of company_tiers and company_ai_usage applies to whoever reads it (a view otherwise runs as
-- its owner, and the owner would see every company's rows if it were not forced).
CREATE VIEW billing_statements WITH (security_invoker = true) AS
WITH months AS (
  SELECT t.company_id, m::date AS month
    FROM company_tiers t,
         generate_series(date_trunc('month', t.registered_at AT TIME ZONE 'UTC'),
                         date_trunc('month', now() AT TIME ZONE 'UTC'),
                         interval '1 month') AS m
  UNION
  SELECT company_id, period_start
    FROM company_ai_usage
   WHERE period_type = 'monthly'
),
priced AS (
  SELECT m.company_id, m.month, t.tier,
         pb.version AS price_book_version,
         pb.overage_markup_bp,
         pt.monthly_price_micro_usd AS tier_price_micro_usd,
         pt.included_ai_cost_micro_usd,
         coalesce(u.total_cost_micro_usd, 0) AS ai_cost_micro_usd,
         coalesce(u.notebooklm_queries, 0) AS notebooklm_queries,
         coalesce(u.gemini_flash_queries, 0) AS gemini_flash_queries,
         coalesce(u.gemini_pro_queries, 0) AS gemini_pro_queries,
         coalesce(u.document_pages, 0) AS document_pages,
         coalesce(u.vision_images, 0) AS vision_images,
         coalesce(u.speech_minutes, 0) AS speech_minutes,
         coalesce(u.tts_characters, 0) AS tts_characters,
         coalesce(u.embedding_tokens, 0) AS embedding_tokens
    FROM months m
    JOIN company_tiers t ON t.company_id = m.company_id
    LEFT JOIN company_ai_usage u
      ON u.company_id = m.company_id AND u.period_type = 'monthly' AND u.period_start = m.month
    LEFT JOIN LATERAL (
      SELECT p.version, p.overage_markup_bp
        FROM price_books p
       WHERE p.effective_from <= m.month
       ORDER BY p.version DESC
       LIMIT 1
    ) pb ON true
    LEFT JOIN price_book_tiers pt ON pt.version = pb.version AND pt.tier = t.tier
),
charged AS (
  SELECT priced.*,
         CASE WHEN included_ai_cost_micro_usd IS NOT NULL
              THEN greatest(ai_cost_micro_usd - included_ai_cost_micro_usd, 0)
         END AS overage_micro_usd
    FROM priced
)
SELECT company_id, month, tier, price_book_version, tier_price_micro_usd, ai_cost_micro_usd,
       included_ai_cost_micro_usd, overage_micro_usd, overage_markup_bp,
       overage_charge_micro_usd,
       tier_price_micro_usd + overage_charge_micro_usd AS total_due_micro_usd,
       tier_price_micro_usd + overage_charge_micro_usd - ai_cost_micro_usd AS margin_micro_usd,
       notebooklm_queries, gemini_flash_queries, gemini_pro_queries, document_pages,
       vision_images, speech_minutes, tts_characters, embedding_tokens
  FROM charged,
       LATERAL (SELECT div(overage_micro_usd::numeric * (10000 + overage_markup_bp), 10000)::bigint
                  AS overage_charge_micro_usd) AS c;

GRANT SELECT, INSERT ON price_books, price_book_tiers TO trestle_app;
GRANT SELECT, INSERT, UPDATE ON company_tiers TO trestle_app;
GRANT SELECT ON billing_statements TO trestle_app;
