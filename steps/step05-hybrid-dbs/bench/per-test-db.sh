#!/usr/bin/env bash
# What a database of its own costs one test: a fresh PostgreSQL database with step 5's
# migrations applied (what testkit and step 5's test configuration do for every test), against
# a PostgreSQL schema of its own in one shared database, and against SQLite in memory with the
# same schema translated by hand (the roadmap's suggestion); each followed by the statements
# of a store test and thrown away. docs/05-hybrid-dbs.md, "One engine in tests", reports its
# numbers.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:PORT/postgres steps/step05-hybrid-dbs/bench/per-test-db.sh [N] [ROUNDS]
#
# N tests per round (50), ROUNDS rounds (3), the variants interleaved so a busy machine slows
# them alike. One psql and one sqlite3 process run all of a round's tests, so the figures are
# the engines' work (a test's own connection included), not process starts.
# The backslashes echoed below are psql's meta-commands, meant literally (bash's echo keeps them).
# shellcheck disable=SC2028
set -euo pipefail
N="${1:-50}"
ROUNDS="${2:-3}"
HERE="$(cd "$(dirname "$0")" && pwd)"
MIGRATIONS="$HERE/../migrations"
: "${DATABASE_URL:?set DATABASE_URL to the maintenance database of a PostgreSQL server, as cargo xtask services status --env prints it}"
if ! command -v sqlite3 >/dev/null; then
  echo "per-test-db: sqlite3 is missing; installing it: apt-get install -y sqlite3" >&2
  apt-get install -y -qq sqlite3 >/dev/null
fi
# The schema variant's DROP ... CASCADE lists what it drops: not news.
export PGOPTIONS="-c client_min_messages=warning"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
MAINTENANCE="$(psql "$DATABASE_URL" -XAtqc 'SELECT current_database()')"

# A store test's statements: an order and its lines (UNNEST), a user's page (rows, count, the
# lines with = ANY), a payment recorded twice under one key, two racing compare-and-sets of
# pending -> paid. The last line is `ok` only if each did what the stores rely on.
cat >"$WORK/test.pg.sql" <<'SQL'
INSERT INTO orders (id, user_id, status, total_minor, currency, created_at, updated_at)
VALUES ('65f000000000000000000001', '65f0000000000000000000aa', 'pending', 3500, 'EUR', now(), now());
INSERT INTO order_lines (order_id, position, product_id, sku, name, unit_price_minor, quantity)
SELECT '65f000000000000000000001', * FROM UNNEST('{0,1}'::smallint[],
  '{65f0000000000000000000b1,65f0000000000000000000b2}'::text[], '{MUG-1,TEA-2}'::text[],
  '{Mug,Tea}'::text[], '{1000,500}'::bigint[], '{3,1}'::integer[]);
SELECT id, status, total_minor FROM orders WHERE user_id = '65f0000000000000000000aa'
  ORDER BY id DESC OFFSET 0 LIMIT 20;
SELECT count(*) FROM orders WHERE user_id = '65f0000000000000000000aa';
SELECT order_id, sku, quantity FROM order_lines
  WHERE order_id = ANY('{65f000000000000000000001}') ORDER BY order_id, position;
INSERT INTO payments (idempotency_key, order_id, amount_minor, currency, status, created_at)
VALUES ('key-1', '65f000000000000000000001', 3500, 'EUR', 'declined', now())
ON CONFLICT (idempotency_key) DO UPDATE SET status = excluded.status;
INSERT INTO payments (idempotency_key, order_id, amount_minor, currency, status, created_at)
VALUES ('key-1', '65f000000000000000000001', 3500, 'EUR', 'succeeded', now())
ON CONFLICT (idempotency_key) DO UPDATE SET status = excluded.status;
UPDATE orders SET status = 'paid', updated_at = greatest(now(), created_at),
  payment_reference = 'ch_1', payment_amount_minor = 3500, payment_currency = 'EUR',
  payment_status = 'succeeded', paid_at = now()
  WHERE id = '65f000000000000000000001' AND status = 'pending' RETURNING id;
UPDATE orders SET status = 'paid' WHERE id = '65f000000000000000000001' AND status = 'pending'
  RETURNING id;
SELECT CASE WHEN (SELECT count(*) FROM order_lines) = 2
  AND (SELECT string_agg(status, ',') FROM payments) = 'succeeded'
  AND (SELECT status FROM orders) = 'paid' THEN 'ok' ELSE 'bad' END;
SQL

# The same test in SQLite: no arrays (json_each instead of UNNEST and = ANY), no now() (text
# times), no greatest() (max() of two values).
cat >"$WORK/test.sqlite.sql" <<'SQL'
INSERT INTO orders (id, user_id, status, total_minor, currency, created_at, updated_at)
VALUES ('65f000000000000000000001', '65f0000000000000000000aa', 'pending', 3500, 'EUR',
  strftime('%Y-%m-%dT%H:%M:%fZ'), strftime('%Y-%m-%dT%H:%M:%fZ'));
INSERT INTO order_lines (order_id, position, product_id, sku, name, unit_price_minor, quantity)
SELECT '65f000000000000000000001', p.value, pr.value, s.value, n.value, u.value, q.value
FROM json_each('[0,1]') p
JOIN json_each('["65f0000000000000000000b1","65f0000000000000000000b2"]') pr ON pr.key = p.key
JOIN json_each('["MUG-1","TEA-2"]') s ON s.key = p.key
JOIN json_each('["Mug","Tea"]') n ON n.key = p.key
JOIN json_each('[1000,500]') u ON u.key = p.key
JOIN json_each('[3,1]') q ON q.key = p.key;
SELECT id, status, total_minor FROM orders WHERE user_id = '65f0000000000000000000aa'
  ORDER BY id DESC LIMIT 20 OFFSET 0;
SELECT count(*) FROM orders WHERE user_id = '65f0000000000000000000aa';
SELECT order_id, sku, quantity FROM order_lines
  WHERE order_id IN (SELECT value FROM json_each('["65f000000000000000000001"]'))
  ORDER BY order_id, position;
INSERT INTO payments (idempotency_key, order_id, amount_minor, currency, status, created_at)
VALUES ('key-1', '65f000000000000000000001', 3500, 'EUR', 'declined', strftime('%Y-%m-%dT%H:%M:%fZ'))
ON CONFLICT (idempotency_key) DO UPDATE SET status = excluded.status;
INSERT INTO payments (idempotency_key, order_id, amount_minor, currency, status, created_at)
VALUES ('key-1', '65f000000000000000000001', 3500, 'EUR', 'succeeded', strftime('%Y-%m-%dT%H:%M:%fZ'))
ON CONFLICT (idempotency_key) DO UPDATE SET status = excluded.status;
UPDATE orders SET status = 'paid', updated_at = max(strftime('%Y-%m-%dT%H:%M:%fZ'), created_at),
  payment_reference = 'ch_1', payment_amount_minor = 3500, payment_currency = 'EUR',
  payment_status = 'succeeded', paid_at = strftime('%Y-%m-%dT%H:%M:%fZ')
  WHERE id = '65f000000000000000000001' AND status = 'pending' RETURNING id;
UPDATE orders SET status = 'paid' WHERE id = '65f000000000000000000001' AND status = 'pending'
  RETURNING id;
SELECT CASE WHEN (SELECT count(*) FROM order_lines) = 2
  AND (SELECT group_concat(status) FROM payments) = 'succeeded'
  AND (SELECT status FROM orders) = 'paid' THEN 'ok' ELSE 'bad' END;
SQL

# Step 5's schema by hand in SQLite (STRICT tables: declared types enforced). What does not
# translate, and how it was approximated:
# - domains (object_id, currency_code): none; each column repeats its check;
# - regular expressions (`~`): none in a library build (the sqlite3 shell adds REGEXP, an
#   application linking SQLite does not); GLOB character classes plus length() instead;
# - char(24), smallint, timestamptz: TEXT and INTEGER; no fixed width, a smallint is 64 bits,
#   times are ISO 8601 text compared as text, with no time zone and what precision the writer
#   chose;
# - num_nulls(): a sum of `IS NULL`s; INCLUDE in an index: extra key columns instead;
# - boolean: INTEGER, with a check that it is 1;
# - foreign keys are enforced only with PRAGMA foreign_keys = ON on every connection;
# - a TEXT PRIMARY KEY admits NULL unless declared NOT NULL.
cat >"$WORK/schema.sqlite.sql" <<'SQL'
PRAGMA foreign_keys = ON;
CREATE TABLE orders (
    id            TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 24 AND id NOT GLOB '*[^0-9a-f]*'),
    user_id       TEXT    NOT NULL CHECK (length(user_id) = 24 AND user_id NOT GLOB '*[^0-9a-f]*'),
    status        TEXT    NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
    total_minor   INTEGER NOT NULL CHECK (total_minor >= 0),
    currency      TEXT    NOT NULL CHECK (length(currency) = 3 AND currency NOT GLOB '*[^A-Z]*'),
    payment_reference     TEXT,
    payment_amount_minor  INTEGER CHECK (payment_amount_minor >= 0),
    payment_currency      TEXT CHECK (length(payment_currency) = 3 AND payment_currency NOT GLOB '*[^A-Z]*'),
    payment_status        TEXT,
    paid_at               TEXT,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL CHECK (updated_at >= created_at),
    CONSTRAINT orders_payment_whole CHECK ((payment_reference IS NULL) + (payment_amount_minor IS NULL)
        + (payment_currency IS NULL) + (payment_status IS NULL) + (paid_at IS NULL) IN (0, 5)),
    CONSTRAINT orders_paid_have_payment
        CHECK (status NOT IN ('paid', 'shipped') OR payment_reference IS NOT NULL)
) STRICT;
CREATE INDEX orders_by_user_newest ON orders (user_id, id DESC);
CREATE TABLE order_lines (
    order_id          TEXT    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position          INTEGER NOT NULL CHECK (position >= 0),
    product_id        TEXT    NOT NULL CHECK (length(product_id) = 24 AND product_id NOT GLOB '*[^0-9a-f]*'),
    sku               TEXT    NOT NULL CHECK (length(sku) BETWEEN 1 AND 64 AND sku NOT GLOB '*[^A-Z0-9_-]*'),
    name              TEXT    NOT NULL CHECK (name <> ''),
    unit_price_minor  INTEGER NOT NULL CHECK (unit_price_minor >= 0),
    quantity          INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, position),
    UNIQUE (order_id, product_id)
) STRICT;
CREATE INDEX order_lines_by_product ON order_lines (product_id);
CREATE TABLE payments (
    idempotency_key    TEXT    NOT NULL PRIMARY KEY CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    order_id           TEXT    NOT NULL REFERENCES orders (id),
    amount_minor       INTEGER NOT NULL CHECK (amount_minor >= 0),
    currency           TEXT    NOT NULL CHECK (length(currency) = 3 AND currency NOT GLOB '*[^A-Z]*'),
    status             TEXT    NOT NULL CHECK (status IN ('succeeded', 'declined', 'refunded')),
    provider_reference TEXT,
    reason             TEXT,
    created_at         TEXT    NOT NULL
) STRICT;
CREATE INDEX payments_by_order ON payments (order_id, created_at);
CREATE TABLE migration_checkpoints (
    name        TEXT    NOT NULL PRIMARY KEY,
    last_id     TEXT CHECK (length(last_id) = 24 AND last_id NOT GLOB '*[^0-9a-f]*'),
    copied      INTEGER NOT NULL DEFAULT 0 CHECK (copied >= 0),
    updated_at  TEXT    NOT NULL
) STRICT;
CREATE TABLE migration_problems (
    name TEXT NOT NULL, source TEXT NOT NULL, reason TEXT NOT NULL, seen_at TEXT NOT NULL,
    PRIMARY KEY (name, source)
) STRICT;
CREATE INDEX orders_sold_by_time ON orders (created_at, id, currency)
    WHERE status IN ('paid', 'shipped');
CREATE TABLE cutover (
    only_row INTEGER NOT NULL PRIMARY KEY DEFAULT 1 CHECK (only_row = 1),
    phase TEXT NOT NULL DEFAULT 'mongodb' CHECK (phase IN ('mongodb', 'frozen', 'postgresql')),
    retry_after_secs INTEGER NOT NULL DEFAULT 5 CHECK (retry_after_secs BETWEEN 1 AND 3600),
    changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ'))
) STRICT;
INSERT INTO cutover DEFAULT VALUES;
SQL

# The migrations as sqlx's migrator applies them: under its advisory lock, each file in a
# transaction, recorded in _sqlx_migrations.
migrations() {
  echo "CREATE TABLE _sqlx_migrations (version bigint PRIMARY KEY, description text NOT NULL,
    installed_on timestamptz NOT NULL DEFAULT now(), success boolean NOT NULL,
    checksum bytea NOT NULL, execution_time bigint NOT NULL);"
  echo "SELECT pg_advisory_lock(4242);"
  for file in "$MIGRATIONS"/*.sql; do
    echo "BEGIN;"
    echo "\\i $file"
    echo "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
      VALUES ($((10#$(basename "$file" | cut -d_ -f1))), '$(basename "$file")', true, '\\x00', 0);"
    echo "COMMIT;"
  done
  echo "SELECT pg_advisory_unlock(4242);"
}

# PostgreSQL as the tests do it: CREATE DATABASE (from template1), a connection to it, the
# migrations, the test, DROP DATABASE ... WITH (FORCE). psql times every statement; an @ line
# names the part of a test the times after it belong to.
{
  echo "\\timing on"
  for i in $(seq "$N"); do
    echo "\\echo @create"
    echo "CREATE DATABASE bench_per_test_$i;"
    echo "\\c bench_per_test_$i"
    echo "\\echo @migrations"
    migrations
    echo "\\echo @test"
    echo "\\i $WORK/test.pg.sql"
    echo "\\c $MAINTENANCE"
    echo "\\echo @drop"
    echo "DROP DATABASE bench_per_test_$i WITH (FORCE);"
  done
} >"$WORK/round.postgresql.sql"

# What PostgreSQL offers short of a database: a schema of the test's own in one database
# (the tables, domains and _sqlx_migrations live in it), a connection, the migrations, the
# test, DROP SCHEMA ... CASCADE.
{
  for i in $(seq "$N"); do
    echo "\\c bench_per_test_schemas"
    echo "CREATE SCHEMA test_$i; SET search_path = test_$i;"
    migrations
    echo "\\i $WORK/test.pg.sql"
    echo "DROP SCHEMA test_$i CASCADE;"
  done
} >"$WORK/round.schema.sql"

{
  for _ in $(seq "$N"); do
    echo ".open"
    echo ".read $WORK/schema.sqlite.sql"
    echo ".read $WORK/test.sqlite.sql"
  done
} >"$WORK/round.sqlite.sql"

psql "$DATABASE_URL" -XAtq -c 'DROP DATABASE IF EXISTS bench_per_test_schemas' \
  -c 'CREATE DATABASE bench_per_test_schemas'
trap 'psql "$DATABASE_URL" -XAtq -c "DROP DATABASE IF EXISTS bench_per_test_schemas WITH (FORCE)"; rm -rf "$WORK"' EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Runs one round of a variant; prints its milliseconds per test; fails unless every test said ok.
round() {
  local start end ok
  start="$(now_ms)"
  case "$1" in
    sqlite) sqlite3 -bail <"$WORK/round.sqlite.sql" >"$WORK/out.$1" ;;
    *) psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 -f "$WORK/round.$1.sql" >"$WORK/out.$1" ;;
  esac
  end="$(now_ms)"
  ok="$(grep -c '^ok$' "$WORK/out.$1" || true)"
  if [ "$ok" != "$N" ]; then
    echo "per-test-db: $1: $ok of $N tests ended ok" >&2
    exit 1
  fi
  awk -v t="$((end - start))" -v n="$N" 'BEGIN { printf "%.1f\n", t / n }'
}

# The statements' own times per test, by part, from the last database-per-test round.
parts() {
  awk -v n="$N" '/^@/ { part = substr($0, 2) } /^Time: / { sum[part] += $2 }
    END { printf "create %.0f, migrations %.0f, test %.0f, drop %.0f", sum["create"] / n,
          sum["migrations"] / n, sum["test"] / n, sum["drop"] / n }' "$WORK/out.postgresql"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "per-test-db: $N tests a round, $ROUNDS rounds; PostgreSQL $(psql "$DATABASE_URL" -XAtqc 'SHOW server_version' | cut -d' ' -f1), SQLite $(sqlite3 --version | cut -d' ' -f1); ms per test"
for r in $(seq "$ROUNDS"); do
  for variant in postgresql schema sqlite; do
    round "$variant" >>"$WORK/$variant.ms"
  done
  echo "round $r: a database $(tail -1 "$WORK/postgresql.ms") ($(parts)), a schema $(tail -1 "$WORK/schema.ms"), SQLite in memory $(tail -1 "$WORK/sqlite.ms")"
done
db="$(median <"$WORK/postgresql.ms")"
schema="$(median <"$WORK/schema.ms")"
lite="$(median <"$WORK/sqlite.ms")"
awk -v db="$db" -v schema="$schema" -v lite="$lite" 'BEGIN {
  printf "median: a PostgreSQL database %s, a PostgreSQL schema %s, SQLite in memory %s; database/SQLite %.0fx, schema/SQLite %.0fx\n", db, schema, lite, db / lite, schema / lite
}'
