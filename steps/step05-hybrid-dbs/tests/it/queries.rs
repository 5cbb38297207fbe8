//! The stores' lookups as PostgreSQL plans them at run time. sqlx binds a `String` as `text`,
//! whatever type the query's column has; `object_id` is a domain over `char(24)`, and
//! `id = $1` with a `text` parameter is planned as `id::text = $1`, which no index on `id`
//! serves. The stores cast such parameters to `::bpchar`, the column's own type. This test
//! plans every lookup of the committed offline data (`.sqlx/`: the exact statements the
//! macros compiled) with its parameters typed as sqlx binds them, on enough rows that an
//! index is the cheap plan, and checks that the id each binds first (`$1`: an order, a user)
//! is an index condition; then the same statements without the casts, where it must be a
//! filter over rows read some other way, so the test shows what it guards.

use std::path::Path;

use crate::support::App;

/// The lookups among the committed statements: reads and updates that bind an id as bpchar.
fn lookups() -> Vec<(String, Vec<String>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".sqlx");
    let mut lookups = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the committed .sqlx/") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let data: serde_json::Value = serde_json::from_str(&text).unwrap();
        let sql = data["query"].as_str().unwrap().to_owned();
        let reads = sql.starts_with("SELECT") || sql.starts_with("UPDATE");
        if reads && sql.contains("::bpchar") {
            let parameters = data["describe"]["parameters"]["Left"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| runtime_type(p.as_str().unwrap()).to_owned())
                .collect();
            lookups.push((sql, parameters));
        }
    }
    lookups
}

/// The type sqlx binds for the Rust value the macros accept at a parameter of this type.
fn runtime_type(described: &str) -> &'static str {
    match described {
        "Bpchar" | "Text" => "text",
        "BpcharArray" | "TextArray" => "text[]",
        "Int8" => "int8",
        "Timestamptz" => "timestamptz",
        other => panic!("no run-time type for a {other} parameter: add it here"),
    }
}

/// A value of each run-time type: an id that exists (as an order and as a user), a page.
/// Generic plans (below) never fold it into the statement, so one value serves every
/// parameter of a type.
fn sample(runtime_type: &str) -> &'static str {
    match runtime_type {
        "text" => "'00000000000000000000002a'",
        "text[]" => "'{00000000000000000000002a}'",
        "int8" => "20",
        "timestamptz" => "now()",
        other => panic!("no sample {other}"),
    }
}

/// The plan of `sql`, prepared with `types` as the parameters' types: the generic plan, the
/// one that does not depend on the values, so what it shows is the statement's own.
async fn plan(conn: &mut sqlx::PgConnection, n: usize, sql: &str, types: &[String]) -> String {
    let name = format!("lookup_{n}");
    let prepare = format!("PREPARE {name} ({}) AS {sql}", types.join(", "));
    sqlx::raw_sql(&prepare).execute(&mut *conn).await.unwrap();
    let values: Vec<&str> = types.iter().map(|t| sample(t)).collect();
    let explain = format!("EXPLAIN EXECUTE {name} ({})", values.join(", "));
    let lines: Vec<String> = sqlx::query_scalar(&explain)
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    sqlx::raw_sql(&format!("DEALLOCATE {name}"))
        .execute(&mut *conn)
        .await
        .unwrap();
    lines.join("\n")
}

#[tokio::test]
async fn every_lookup_by_id_user_or_order_uses_an_index_with_the_parameters_sqlx_binds() {
    let app = App::spawn().await;
    // 20,000 orders of 100 users, two lines and one payment each.
    sqlx::raw_sql(
        "INSERT INTO orders (id, user_id, status, total_minor, currency, created_at, updated_at)
         SELECT lpad(to_hex(g), 24, '0'), lpad(to_hex(g % 100), 24, '0'), 'pending', 100,
                'EUR', now(), now() FROM generate_series(1, 20000) AS g;
         INSERT INTO order_lines (order_id, position, product_id, sku, name, unit_price_minor,
                                  quantity)
         SELECT o.id, k, lpad(to_hex(k + 1), 24, 'b'), 'SKU-' || k, 'Product', 50, 1
         FROM orders o, generate_series(0, 1) AS k;
         INSERT INTO payments (idempotency_key, order_id, amount_minor, currency, status,
                               created_at)
         SELECT 'key-' || id, id, 100, 'EUR', 'declined', now() FROM orders;
         ANALYZE orders, order_lines, payments;",
    )
    .execute(&app.state.postgres)
    .await
    .unwrap();
    let mut conn = app.state.postgres.begin().await.unwrap();
    sqlx::raw_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        .execute(&mut *conn)
        .await
        .unwrap();
    let lookups = lookups();
    // The pages and lines of orders, a user's count, an order's payments, a transition.
    assert!(lookups.len() >= 6, "{lookups:?}");
    for (n, (sql, types)) in lookups.iter().enumerate() {
        let with_casts = plan(&mut conn, n, sql, types).await;
        let on_id = conditions_on_the_id(&with_casts);
        assert!(
            !on_id.is_empty()
                && on_id
                    .iter()
                    .all(|c| c.starts_with("Index Cond:") || c.starts_with("Recheck Cond:")),
            "{sql}\nreads rows it does not look up by index:\n{with_casts}"
        );
        let without = sql.replace("::bpchar[]", "").replace("::bpchar", "");
        let uncast = plan(&mut conn, n, &without, types).await;
        assert!(
            conditions_on_the_id(&uncast)
                .iter()
                .any(|c| c.starts_with("Filter:")),
            "{without}\nwithout its casts still looks $1 up by index, so this test proves \
             nothing:\n{uncast}"
        );
    }
}

/// The plan's conditions on the first parameter, the id looked up.
fn conditions_on_the_id(plan: &str) -> Vec<&str> {
    plan.lines()
        .map(str::trim)
        .filter(|line| line.contains("$1"))
        .collect()
}
