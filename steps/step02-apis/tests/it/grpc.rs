//! The payments service over real sockets: the service in front of the test's payment
//! simulator, reached by a raw gRPC client (what `grpcurl` would do) and by the app's REST pay
//! endpoint (what the shop does). Failure is exercised as carefully as success: a service that
//! is down, one that never answers, a provider slower than the deadline, a missing or wrong
//! token, bad input.

use std::time::{Duration, Instant};

use common::config::Environment;
use common::payments::PaymentError;
use serde_json::json;
use step02_apis::payments::GrpcPaymentGateway;
use step02_apis::payments::pb::payments_client::PaymentsClient;
use step02_apis::payments::pb::{ChargeRequest, GetPaymentRequest, RefundRequest};
use step02_apis::payments::status::DECLINE_REASON;
use testkit::{expect_error, expect_status};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tonic::{Code, Request};

use step02_apis::payments::RunningPayments;
use step02_apis::testing::TEST_SERVICE_TOKEN;

use crate::support::App;

/// A raw client of the app's payments service.
async fn raw_client(app: &App) -> PaymentsClient<Channel> {
    PaymentsClient::connect(app.fixture::<RunningPayments>().url())
        .await
        .expect("the payments service accepts connections")
}

/// `message` with `authorization: Bearer <token>` (none when `token` is `None`).
fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("a header value"),
        );
    }
    request
}

fn authed<T>(message: T) -> Request<T> {
    with_token(message, Some(TEST_SERVICE_TOKEN))
}

fn charge(key: &str, card_token: &str) -> ChargeRequest {
    ChargeRequest {
        idempotency_key: key.to_owned(),
        amount_minor: 1999,
        currency: "EUR".to_owned(),
        card_token: card_token.to_owned(),
        description: "a test charge".to_owned(),
    }
}

/// An address where nothing listens: bound, then released.
async fn dead_address() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn charge_get_and_refund_go_through_the_service_to_the_provider() {
    let app = App::spawn().await;
    let mut client = raw_client(&app).await;

    let payment = client
        .charge(authed(charge("grpc-test-1", "tok_success")))
        .await
        .expect("the charge succeeds")
        .into_inner();
    assert!(payment.id.starts_with("ch_"), "{payment:?}");
    assert_eq!(
        (payment.amount_minor, payment.currency.as_str()),
        (1999, "EUR")
    );
    assert_eq!(payment.status, "succeeded");
    assert_eq!(app.provider_charge(&payment.id).await["amount"], 1999);

    let looked_up = client
        .get_payment(authed(GetPaymentRequest {
            payment_id: payment.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(looked_up, payment);

    let refunded = client
        .refund(authed(RefundRequest {
            payment_id: payment.id.clone(),
            idempotency_key: "grpc-refund-1".to_owned(),
        }))
        .await
        .expect("the refund succeeds")
        .into_inner();
    assert_eq!(refunded.payment_id, payment.id);
    let after = client
        .get_payment(authed(GetPaymentRequest {
            payment_id: payment.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.amount_refunded_minor, 1999);
    assert_eq!(app.provider_charge(&payment.id).await["refunded"], true);

    // The app's own client reads the same payment, and an unknown id is its caller's mistake.
    let gateway = GrpcPaymentGateway::new(&app.config.apis.payments, Environment::Test).unwrap();
    assert_eq!(gateway.get_payment(&payment.id).await.unwrap(), after);
    assert!(matches!(
        gateway.get_payment("ch_doesnotexist").await,
        Err(PaymentError::Rejected(_))
    ));
}

#[tokio::test]
async fn the_same_idempotency_key_twice_charges_once() {
    let app = App::spawn().await;
    let mut client = raw_client(&app).await;
    let first = client
        .charge(authed(charge("same-key", "tok_success")))
        .await
        .unwrap()
        .into_inner();
    let second = client
        .charge(authed(charge("same-key", "tok_success")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.id, second.id);
    assert_eq!(app.provider_charges().await.len(), 1);

    // The same key for another amount is refused, not silently replayed.
    let conflicting = ChargeRequest {
        amount_minor: 5,
        ..charge("same-key", "tok_success")
    };
    let status = client.charge(authed(conflicting)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(app.provider_charges().await.len(), 1);
}

#[tokio::test]
async fn bad_requests_are_invalid_argument_and_never_reach_the_provider() {
    let app = App::spawn().await;
    let mut client = raw_client(&app).await;
    let status = client
        .charge(authed(ChargeRequest {
            idempotency_key: String::new(),
            amount_minor: 0,
            currency: "euro".to_owned(),
            ..charge("", "tok_success")
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    for field in ["idempotency_key", "amount_minor", "currency"] {
        assert!(status.message().contains(field), "{}", status.message());
    }
    let status = client
        .refund(authed(RefundRequest {
            payment_id: "../v1/charges".to_owned(),
            idempotency_key: "k".to_owned(),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(app.provider_charges().await.is_empty());

    let status = client
        .get_payment(authed(GetPaymentRequest {
            payment_id: "ch_doesnotexist".to_owned(),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn calls_without_the_right_service_token_are_unauthenticated_and_charge_nothing() {
    let app = App::spawn().await;
    let mut client = raw_client(&app).await;
    for token in [None, Some("wrong-token-of-the-wrong-kind-entirely")] {
        let status = client
            .charge(with_token(charge("no-token", "tok_success"), token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{token:?}");
    }
    assert!(app.provider_charges().await.is_empty());
}

#[tokio::test]
async fn an_app_with_the_wrong_service_token_answers_503_and_keeps_the_order_pending() {
    let app = App::spawn_with(|config| {
        config.apis.payments.service_token = Some(secrecy::SecretString::from(
            "another-token-that-is-long-enough-but-wrong",
        ));
    })
    .await;
    let (_, admin) = app.admin().await;
    let order = app.place_new_order(&admin, json!({}), 1).await;
    expect_error(
        app.pay_order(&order.token, &order.id, "tok_success").await,
        503,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    )
    .await;
    assert_eq!(
        app.order(&order.token, &order.id).await["status"],
        "pending"
    );
    assert!(app.provider_charges().await.is_empty());
}

#[tokio::test]
async fn a_declined_card_is_402_through_the_rest_pay_endpoint() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let order = app.place_new_order(&admin, json!({}), 1).await;
    let body = expect_error(
        app.pay_order(&order.token, &order.id, "tok_insufficient_funds")
            .await,
        402,
        "PAYMENT_DECLINED",
    )
    .await;
    assert!(body.to_string().contains("insufficient_funds"), "{body}");
    assert_eq!(
        app.order(&order.token, &order.id).await["status"],
        "pending"
    );

    // The raw service says the same thing in gRPC's terms.
    let status = raw_client(&app)
        .await
        .charge(authed(charge("declined", "tok_decline")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        status.metadata().get(DECLINE_REASON).unwrap(),
        "card_declined"
    );

    // Another card is a new attempt, and it pays.
    let paid = expect_status(
        app.pay_order(&order.token, &order.id, "tok_success").await,
        200,
    )
    .await;
    assert_eq!(paid["status"], "paid");
}

#[tokio::test]
async fn paying_while_the_payments_service_is_down_is_503_and_the_order_stays_payable() {
    let down = dead_address().await;
    let app =
        App::spawn_with(move |config| config.apis.payments.url = format!("http://{down}")).await;
    let (_, admin) = app.admin().await;
    let order = app.place_new_order(&admin, json!({ "stock": 5 }), 2).await;

    let started = Instant::now();
    expect_error(
        app.pay_order(&order.token, &order.id, "tok_success").await,
        503,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    )
    .await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_eq!(
        app.order(&order.token, &order.id).await["status"],
        "pending"
    );
    assert_eq!(app.product(&order.product_id).await["stock"], 3);
    assert!(app.provider_charges().await.is_empty());

    // The service comes up where the app expects it; the same order now pays.
    let service = step02_apis::payments::serve(
        TcpListener::bind(down)
            .await
            .expect("the port is free again"),
        &app.config.payments,
        secrecy::SecretString::from(TEST_SERVICE_TOKEN),
    )
    .await
    .unwrap();
    let paid = expect_status(
        app.pay_order(&order.token, &order.id, "tok_success").await,
        200,
    )
    .await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(app.provider_charges().await.len(), 1);
    service.stop().await;
}

#[tokio::test]
async fn a_provider_slower_than_the_deadline_is_deadline_exceeded_and_pay_answers_503() {
    let app = App::spawn_with(|config| config.apis.payments.deadline_ms = 400).await;
    let (_, admin) = app.admin().await;
    let order = app.place_new_order(&admin, json!({}), 1).await;
    app.payments.set_latency(Duration::from_millis(1_500));

    let mut request = authed(charge("slow", "tok_success"));
    request.set_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let status = raw_client(&app).await.charge(request).await.unwrap_err();
    // The service answers before the caller's own timer would cut it off (CANCELLED).
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("deadline"), "{status:?}");
    assert!(started.elapsed() < Duration::from_millis(1_000));

    let started = Instant::now();
    expect_error(
        app.pay_order(&order.token, &order.id, "tok_success").await,
        503,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    )
    .await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1_400), "took {elapsed:?}");
    assert_eq!(
        app.order(&order.token, &order.id).await["status"],
        "pending"
    );

    // Once the provider is fast again, the retry pays, and at most one charge exists for it.
    app.payments.set_latency(Duration::ZERO);
    let paid = expect_status(
        app.pay_order(&order.token, &order.id, "tok_success").await,
        200,
    )
    .await;
    assert_eq!(paid["status"], "paid");
    let description = format!("stepwise-shop order {}", order.id);
    let charges_for_order = app
        .provider_charges()
        .await
        .into_iter()
        .filter(|c| c["description"] == description.as_str())
        .count();
    assert_eq!(charges_for_order, 1);
}

#[tokio::test]
async fn a_payments_service_that_never_answers_is_cut_off_by_the_apps_own_deadline() {
    // Accepts connections and says nothing: no gRPC server ever answers, so only the app's
    // own timer can end the call.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let app = App::spawn_with(move |config| {
        config.apis.payments.url = format!("http://{addr}");
        config.apis.payments.deadline_ms = 300;
        config.apis.payments.connect_timeout_ms = 5_000;
    })
    .await;
    let (_, admin) = app.admin().await;
    let order = app.place_new_order(&admin, json!({}), 1).await;

    let started = Instant::now();
    expect_error(
        app.pay_order(&order.token, &order.id, "tok_success").await,
        503,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    )
    .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(1_500),
        "took {elapsed:?}"
    );
    assert_eq!(
        app.order(&order.token, &order.id).await["status"],
        "pending"
    );
    held.abort();
}

#[tokio::test]
async fn cancelling_a_paid_order_refunds_it_over_grpc() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let order = app.place_new_order(&admin, json!({}), 1).await;
    let paid = expect_status(
        app.pay_order(&order.token, &order.id, "tok_success").await,
        200,
    )
    .await;
    let charge_id = paid["payment"]["provider_reference"]
        .as_str()
        .expect("a provider reference")
        .to_owned();
    expect_status(app.cancel_order(&admin, &order.id).await, 200).await;
    assert_eq!(app.provider_charge(&charge_id).await["refunded"], true);
}

#[tokio::test]
async fn health_reports_serving_for_the_payments_service() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

    let app = App::spawn().await;
    let channel = Channel::from_shared(app.fixture::<RunningPayments>().url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    for service in ["", "stepwise.payments.v1.Payments"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("health answers without a token")
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn reflection_lists_the_payments_service_in_v1_and_v1alpha() {
    use tonic_reflection::pb::{v1, v1alpha};

    let app = App::spawn().await;
    let channel = Channel::from_shared(app.fixture::<RunningPayments>().url())
        .unwrap()
        .connect()
        .await
        .unwrap();

    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut answers = v1::server_reflection_client::ServerReflectionClient::new(channel.clone())
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().expect("one answer");
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("not a service list: {answer:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"stepwise.payments.v1.Payments"),
        "{names:?}"
    );
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");

    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut answers = v1alpha::server_reflection_client::ServerReflectionClient::new(channel)
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().expect("one answer");
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("not a service list: {answer:?}");
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "stepwise.payments.v1.Payments")
    );
}
