-- The nightly job as one DuckDB SQL script, the way a competent analyst would write it:
-- read every municipality's delivery and AF's with their own delimiters and encodings,
-- drop the rows that cannot be used, replace the personnummer by a two-level keyed hash,
-- join municipal interventions and AF assignments on it, keep the pairs that share a day,
-- classify them with the rule table, and write them to Parquet.
--
-- bench/alternatives/duckdb_nightly.py fills in the $$placeholders from the job spec that
-- bench/national.py writes (the file lists per export format, the code tables, the keys'
-- HMAC pads, the as-of date) and runs the result in one DuckDB connection, in memory.
--
-- What DuckDB 1.5 cannot do without extensions downloaded at run time, and so is done
-- another way here: .xlsx deliveries are read from CSV copies made beforehand, outside
-- the timing (no `excel` extension); Windows-1252 is read as latin-1 (no `encodings`
-- extension; the two agree on every character in these files: å ä ö é); the result goes
-- to Parquet, not SQLite (no `sqlite` extension); there is no HMAC function, so HMAC is
-- composed from sha256 over the pre-computed inner and outer key pads (RFC 2104), and no
-- base32, so the pseudonym stays raw bytes (hex in the output).

SET threads = $threads;
SET preserve_insertion_order = false;

-- Which file is whose, the sources' code words, the catalogue and the rule table.
CREATE TEMP TABLE files (path VARCHAR, source_id VARCHAR, kommunkod VARCHAR);
INSERT INTO files VALUES $files;
CREATE TEMP TABLE codes (grp VARCHAR, field VARCHAR, theirs VARCHAR, ours VARCHAR);
INSERT INTO codes VALUES $codes;
CREATE TEMP TABLE categories (code VARCHAR, category VARCHAR);
INSERT INTO categories VALUES $categories;
CREATE TEMP TABLE rules (municipal VARCHAR, af VARCHAR, class VARCHAR, rule_id VARCHAR);
INSERT INTO rules VALUES $rules;

-- Personnummer: YYYYMMDD-NNNN, YYMMDD-NNNN, YYYYMMDDNNNN or YYMMDDNNNN to 12 digits. A
-- 10-digit form's century is the latest one in which the birth date is not after the
-- as-of date ('+': a hundred years more); samordningsnummer have day + 60.
CREATE MACRO digit(s, i) AS ascii(s[i]) - 48;
CREATE MACRO doubled(d) AS (2 * d) // 10 + (2 * d) % 10;
CREATE MACRO birth_day(dd) AS CASE WHEN dd >= 60 THEN dd - 60 ELSE dd END;
CREATE MACRO year_of_short(yy, mm, dd, plus) AS
    ($as_of_year - ($as_of_year - yy) % 100)
    - CASE WHEN ($as_of_year - ($as_of_year - yy) % 100) * 10000 + mm * 100 + birth_day(dd) > $as_of_key
           THEN 100 ELSE 0 END
    - CASE WHEN plus THEN 100 ELSE 0 END;
CREATE MACRO pnr12(p) AS CASE
    WHEN regexp_full_match(p, '[0-9]{8}[-+]?[0-9]{4}') THEN regexp_replace(p, '[-+]', '')
    WHEN regexp_full_match(p, '[0-9]{6}[-+]?[0-9]{4}') THEN
        CAST(year_of_short(CAST(p[1:2] AS INTEGER), CAST(p[3:4] AS INTEGER), CAST(p[5:6] AS INTEGER),
                           contains(p, '+')) // 100 AS VARCHAR) || regexp_replace(p, '[-+]', '')
    END;
-- A real date (samordningsnummer: day 61-91), a serial other than 000, the Luhn digit.
CREATE MACRO pnr_valid(c) AS c IS NOT NULL
    AND CASE WHEN CAST(c[7:8] AS INTEGER) >= 60
             THEN CAST(c[5:6] AS INTEGER) BETWEEN 0 AND 12 AND CAST(c[7:8] AS INTEGER) BETWEEN 61 AND 91
             ELSE try_strptime(c[1:8], '%Y%m%d') IS NOT NULL END
    AND c[9:11] <> '000'
    AND (10 - (doubled(digit(c, 3)) + digit(c, 4) + doubled(digit(c, 5)) + digit(c, 6) + doubled(digit(c, 7))
               + digit(c, 8) + doubled(digit(c, 9)) + digit(c, 10) + doubled(digit(c, 11))) % 10) % 10
        = digit(c, 12);
-- HMAC-SHA256 from sha256 and the key's inner and outer pads (RFC 2104); raw 32 bytes out.
CREATE MACRO hmac_sha256(ipad, opad, message) AS unhex(sha256(opad || unhex(sha256(ipad || message))));

-- Every delivery as text, in our column names: one read per export format.
CREATE TEMP TABLE municipal_raw AS
$municipal_reads;

CREATE TEMP TABLE af_raw AS
$af_reads;

-- Valid rows only, typed; exact copies once; one row per record id.
CREATE TEMP TABLE municipal AS
SELECT DISTINCT ON (source_id, record_id) * FROM (
    SELECT m.source_id, m.kommunkod, m.record_id, c.ours AS insats_code, k.category,
           m.start_date, m.end_date, m.extent_pct, coalesce(s.ours = 'true', false) AS consent,
           pnr12(m.pnr) AS canonical, m.end_text
    FROM municipal_raw m
    LEFT JOIN codes c ON c.grp = m.grp AND c.field = 'insats_code' AND c.theirs = m.code_text
    LEFT JOIN categories k ON k.code = c.ours
    LEFT JOIN codes s ON s.grp = m.grp AND s.field = 'consent' AND s.theirs = m.consent_text
)
WHERE pnr_valid(canonical) AND record_id <> '' AND insats_code IS NOT NULL
  AND start_date IS NOT NULL AND (end_text = '' OR end_date IS NOT NULL)
  AND extent_pct > 0 AND extent_pct <= 100 AND (end_date IS NULL OR end_date >= start_date);

CREATE TEMP TABLE af AS
SELECT DISTINCT ON (source_id, assignment_id) * FROM (
    SELECT a.source_id, a.assignment_id, c.ours AS programme_code, k.category, st.ours AS status,
           a.af_office, a.decision_date, a.start_date, a.end_date, a.extent_pct,
           coalesce(s.ours = 'true', false) AS consent, pnr12(a.pnr) AS canonical, a.end_text
    FROM af_raw a
    LEFT JOIN codes c ON c.grp = a.grp AND c.field = 'programme_code' AND c.theirs = a.code_text
    LEFT JOIN categories k ON k.code = c.ours
    LEFT JOIN codes st ON st.grp = a.grp AND st.field = 'status' AND st.theirs = a.status_text
    LEFT JOIN codes s ON s.grp = a.grp AND s.field = 'consent' AND s.theirs = a.consent_text
)
WHERE pnr_valid(canonical) AND assignment_id <> '' AND programme_code IS NOT NULL AND status IS NOT NULL
  AND af_office <> '' AND start_date IS NOT NULL AND (end_text = '' OR end_date IS NOT NULL)
  AND extent_pct > 0 AND extent_pct <= 100 AND (end_date IS NULL OR end_date >= start_date);

-- p2 = HMAC(K2, HMAC(K1, number)), each distinct number hashed once.
CREATE TEMP TABLE people AS
SELECT canonical,
       hmac_sha256($k2_ipad, $k2_opad, hmac_sha256($k1_ipad, $k1_opad, encode(canonical))) AS pseudonym
FROM (SELECT canonical FROM municipal UNION SELECT canonical FROM af);

-- Municipal interventions × non-cancelled AF assignments of one person sharing a day
-- (an empty end is ongoing), classified by the rule table; above 100 % together: conflict.
CREATE TEMP TABLE found_overlaps AS
WITH m AS (SELECT p.pseudonym, m.* EXCLUDE (canonical, end_text) FROM municipal m JOIN people p USING (canonical)),
     a AS (SELECT p.pseudonym, a.* EXCLUDE (canonical, end_text) FROM af a JOIN people p USING (canonical)
           WHERE a.status <> 'cancelled')
SELECT hex(m.pseudonym) AS pseudonym, m.source_id AS municipal_source_id, m.kommunkod, m.record_id,
       m.insats_code, m.category AS municipal_category, a.source_id AS af_source_id, a.assignment_id,
       a.programme_code, a.category AS af_category, a.af_office,
       greatest(m.start_date, a.start_date) AS overlap_start,
       least(m.end_date, a.end_date) AS overlap_end,  -- least() skips NULL: empty only when both are open
       m.extent_pct + a.extent_pct AS combined_extent_pct,
       CASE WHEN m.extent_pct + a.extent_pct > $extent_above AND r.class <> 'conflict'
            THEN 'conflict' ELSE r.class END AS classification,
       CASE WHEN m.extent_pct + a.extent_pct > $extent_above AND r.class <> 'conflict'
            THEN '$extent_rule_id' ELSE r.rule_id END AS rule_id,
       m.consent AS municipal_consent, a.consent AS af_consent
FROM m
JOIN a ON a.pseudonym = m.pseudonym
      AND m.start_date <= coalesce(a.end_date, DATE '9999-12-31')
      AND a.start_date <= coalesce(m.end_date, DATE '9999-12-31')
JOIN rules r ON r.municipal = m.category AND r.af = a.category;

COPY found_overlaps TO '$out_parquet' (FORMAT parquet);
