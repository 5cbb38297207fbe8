//! One order followed by its trace id through the JSON logs of the API, the payments service
//! and the outbox's consumers; and the trace context every answer carries. The process's
//! logs are captured in the JSON format `APP_LOG_FORMAT=json` writes
//! (`common::telemetry::capture_json`); nextest runs each test in a process of its own, so
//! the capture holds this test's app, its payments service and its consumers, and no one
//! else's.

use std::time::Duration;

use common::trace::TraceContext;
use serde_json::{Value, json};
use step09_monitoring::AppState;
use testkit::TestApp;

type App = TestApp<AppState>;

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// A `traceparent` of the test's trace, from a client span of its own.
fn traceparent(parent: &str) -> String {
    format!("00-{TRACE}-{parent}-01")
}

/// Every field of a JSON log line: its own and those of the spans it was logged in, each
/// with the span's name under `span`.
fn fields(line: &Value) -> Vec<serde_json::Map<String, Value>> {
    let mut all = Vec::new();
    if let Some(own) = line["fields"].as_object() {
        all.push(own.clone());
    }
    for span in line["spans"].as_array().into_iter().flatten() {
        if let Some(span) = span.as_object() {
            let mut span = span.clone();
            if let Some(name) = span.remove("name") {
                span.insert("span".to_owned(), name);
            }
            all.push(span);
        }
    }
    all
}

/// Whether `line` was logged inside a span named `span` whose `key` is `value`.
fn in_span(line: &Value, span: &str, key: &str, value: &str) -> bool {
    fields(line).iter().any(|f| {
        f.get("span").and_then(Value::as_str) == Some(span)
            && f.get(key).and_then(Value::as_str) == Some(value)
    })
}

fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or_default()
}

/// A request to the app with the test's trace, answered with `status`: the answer's request
/// id, and its `traceparent` (this hop's span, in the test's trace).
async fn traced(
    app: &App,
    path: &str,
    token: &str,
    body: Value,
    parent: &str,
    status: u16,
) -> (String, TraceContext, Value) {
    let response = reqwest::Client::new()
        .post(app.url(path))
        .bearer_auth(token)
        .header("traceparent", traceparent(parent))
        .json(&body)
        .send()
        .await
        .expect("the app answers");
    assert_eq!(response.status(), status, "{path}");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("the answer carries {name}"))
            .to_owned()
    };
    let request_id = header("x-request-id");
    let answered = TraceContext::parse(&header("traceparent")).expect("a valid traceparent");
    (request_id, answered, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn one_order_is_followed_by_its_trace_id_through_the_api_the_payments_service_and_the_consumers()
 {
    let (dispatch, captured) = common::telemetry::capture_json();
    tracing::dispatcher::set_global_default(dispatch)
        .expect("no subscriber yet in this test's process");
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let product = app
        .create_product(&admin, json!({ "price_minor": 700 }))
        .await;
    let (_, customer) = app.customer().await;

    let (placed_by, placed_span, order) = traced(
        &app,
        "/api/v1/orders",
        &customer,
        json!({ "items": [{ "product_id": product["id"], "quantity": 1 }] }),
        "b7ad6b7169203331",
        201,
    )
    .await;
    // The answer continues the caller's trace, with a span of its own.
    assert_eq!(placed_span.trace_id(), TRACE);
    assert_ne!(placed_span.span_id(), "b7ad6b7169203331");
    let order_id = order["id"].as_str().expect("an order id").to_owned();
    let (paid_by, _, _) = traced(
        &app,
        &format!("/api/v1/orders/{order_id}/pay"),
        &customer,
        json!({ "card_token": "tok_success" }),
        "c8be7c827a314442",
        200,
    )
    .await;
    assert_ne!(placed_by, paid_by);

    // The consumers apply the events a moment after the answers: wait for every group's
    // line for the paid event.
    let consumers = ["sales-projection", "mailbox", "business-metrics"];
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = captured
            .lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| {
                l["fields"]["trace_id"] == TRACE
                    || ["event", "grpc", "request"]
                        .iter()
                        .any(|span| in_span(l, span, "trace_id", TRACE))
            })
            .collect::<Vec<_>>();
        let applied = |consumer: &str| {
            lines.iter().any(|l| {
                message(l) == "event applied"
                    && in_span(l, "event", "consumer", consumer)
                    && in_span(l, "event", "kind", "order_paid")
            })
        };
        if consumers.iter().all(|c| applied(c)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // On a failure: the trace's lines, or when there are none, a few of all.
    let all = captured.lines();
    let shown = || {
        let some: Vec<String> = if lines.is_empty() {
            all.iter().take(20).cloned().collect()
        } else {
            lines.iter().map(Value::to_string).collect()
        };
        format!("({} lines captured)\n{}", all.len(), some.join("\n"))
    };

    // The API: each request's closing line carries the trace and the request's own id.
    for request_id in [&placed_by, &paid_by] {
        assert!(
            lines.iter().any(|l| message(l) == "request finished"
                && l["fields"]["request_id"] == request_id.as_str()
                && l["fields"]["trace_id"] == TRACE),
            "no closing line of request {request_id} in the trace:\n{}",
            shown()
        );
    }
    // The payments service: the charge, logged under the paying request's ids.
    assert!(
        lines.iter().any(|l| message(l) == "grpc call"
            && in_span(l, "grpc", "trace_id", TRACE)
            && in_span(l, "grpc", "request_id", &paid_by)
            && l["fields"]["method"]
                .as_str()
                .is_some_and(|m| m.ends_with("/Charge"))
            && l["fields"]["outcome"] == "Ok"),
        "no payments-service line of the charge in the trace:\n{}",
        shown()
    );
    // The consumers: each group applied both events of the order under the trace, and the
    // request that wrote each.
    for consumer in consumers {
        for (kind, request_id) in [("order_placed", &placed_by), ("order_paid", &paid_by)] {
            assert!(
                lines.iter().any(|l| message(l) == "event applied"
                    && in_span(l, "event", "consumer", consumer)
                    && in_span(l, "event", "kind", kind)
                    && in_span(l, "event", "order_id", &order_id)
                    && in_span(l, "event", "request_id", request_id)),
                "{consumer} logged no {kind} event of the order in the trace:\n{}",
                shown()
            );
        }
    }
}

#[tokio::test]
async fn a_request_without_a_valid_traceparent_starts_a_trace_of_its_own_and_is_served() {
    let app = App::spawn().await;
    let http = reqwest::Client::new();
    let mut seen = Vec::new();
    for sent in [
        None,
        Some("not a traceparent"),
        Some("00-00000000000000000000000000000000-b7ad6b7169203331-01"),
        Some("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ] {
        let mut request = http.get(app.url("/api/v1/products"));
        if let Some(sent) = sent {
            request = request.header("traceparent", sent);
        }
        let response = request.send().await.expect("the app answers");
        assert_eq!(response.status(), 200, "{sent:?}");
        let answered = response
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(TraceContext::parse)
            .unwrap_or_else(|| panic!("{sent:?}: no traceparent in the answer"))
            .expect("a valid traceparent");
        assert!(answered.sampled());
        assert_ne!(answered.trace_id(), TRACE);
        seen.push(answered.trace_id());
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "each request started a trace of its own");
}
