//! Wiring: the application state, the router with its layers, and [`Application`], which binds
//! the listener (port 0 in tests) and serves until Ctrl-C or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, Request};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{Bcrypt, JwtKeys, Verifier};
use crate::config::{Config, ServerConfig};
use crate::error::{Error, ErrorDetail};
use crate::payments::{HttpPaymentGateway, PaymentGateway};
use crate::routes;
use crate::services::{Accounts, Catalog, HealthChecks, MongoHealth, Ordering};
use crate::store::Stores;
use crate::store::mongo;

/// Step 0's application state. Handlers extract the piece they need through `FromRef`.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub accounts: Accounts,
    pub catalog: Catalog,
    pub ordering: Ordering,
    pub verifier: Verifier,
    pub health: HealthChecks,
}

impl AppState {
    /// Connects to MongoDB, makes sure the indexes exist, and wires the services.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let db = mongo::connect(&config.mongodb).await?;
        mongo::ensure_indexes(&db)
            .await
            .context("preparing MongoDB (is it running? `cargo xtask doctor` checks)")?;
        let gateway = Arc::new(HttpPaymentGateway::new(&config.payments)?);
        let health = HealthChecks::default().with(MongoHealth(db.clone()));
        Ok(Self::from_parts(
            config,
            Stores::mongo(&db),
            gateway,
            health,
        ))
    }

    /// The state from already-built parts: tests and later steps swap stores or the gateway.
    pub fn from_parts(
        config: &Config,
        stores: Stores,
        gateway: Arc<dyn PaymentGateway>,
        health: HealthChecks,
    ) -> Self {
        let keys = JwtKeys::new(&config.auth);
        let passwords = Arc::new(Bcrypt::new(config.auth.bcrypt_cost));
        Self {
            accounts: Accounts::new(stores.users.clone(), keys.clone(), passwords),
            catalog: Catalog::new(
                stores.products.clone(),
                stores.reviews.clone(),
                stores.users.clone(),
            ),
            ordering: Ordering {
                orders: stores.orders.clone(),
                products: stores.products.clone(),
                payments: stores.payments.clone(),
                gateway,
            },
            verifier: Arc::new(keys),
            health,
        }
    }
}

/// Step 0's complete router: the routes, the fallbacks, and the layers.
pub fn router(state: AppState, server: &ServerConfig) -> Router {
    with_layers(routes::router(), server).with_state(state)
}

/// The fallbacks and cross-cutting layers every step serves with: request ids, tracing, panic
/// and timeout handling, the body limit, and the JSON error envelope.
pub fn with_layers<S>(routes: Router<S>, server: &ServerConfig) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let request_id = HeaderName::from_static("x-request-id");
    routes
        .fallback(|| async { Error::NotFound("route") })
        .layer(DefaultBodyLimit::max(server.body_limit_bytes))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(middleware::from_fn(error_envelope))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &Request| {
                        let id = req
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
                    }),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(CatchPanicLayer::custom(|_panic| {
                    Error::Internal(anyhow::anyhow!("a handler panicked")).into_response()
                }))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Duration::from_millis(server.request_timeout_ms),
                )),
        )
}

/// Gives every error response the one JSON shape, with the request id in it. Errors raised by
/// our code carry their [`ErrorDetail`]; bare ones from the framework (405, a timeout's 503)
/// get one made from their status; a handler's own JSON error body is left alone. The rendered
/// response keeps its [`ErrorDetail`] (request id included) in its extensions, so a layer
/// outside this one can render the same error in another shape (step 2's problem+json).
async fn error_envelope(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let already_json = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let mut detail = match parts.extensions.remove::<ErrorDetail>() {
        Some(detail) => detail,
        // A handler's own JSON answer (e.g. `/health`'s 503 with its checks) stays as it is.
        None if already_json => return Response::from_parts(parts, body),
        None => match bare_error(status) {
            Some(error) => error.detail(),
            None => return Response::from_parts(parts, body),
        },
    };
    detail.request_id = request_id;
    let mut rendered = detail.into_response_with(status);
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_LENGTH && name != axum::http::header::CONTENT_TYPE {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
}

/// The error that a bare framework status stands for.
fn bare_error(status: StatusCode) -> Option<Error> {
    Some(match status {
        StatusCode::NOT_FOUND => Error::NotFound("route"),
        StatusCode::METHOD_NOT_ALLOWED => Error::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Error::UnsupportedMediaType,
        // Our timeout layer answers 503; nothing else in the stack does without a detail.
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => Error::Timeout,
        s if s.is_server_error() => Error::Internal(anyhow::anyhow!("HTTP {s}")),
        _ => return None,
    })
}

/// A bound listener and the router it serves.
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    /// Step 0: builds the state from `config` and binds `config.server`.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let state = AppState::build(&config).await?;
        Self::bind(&config.server, router(state, &config.server)).await
    }

    /// Binds any router: later steps build their own and serve it through here.
    pub async fn bind(server: &ServerConfig, router: Router) -> anyhow::Result<Self> {
        let addr = server.addr()?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        Ok(Self { listener, router })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` completes, then lets in-flight requests finish. Binaries pass
    /// [`shutdown_signal`], taken before they announce their address; tests pass a channel.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // With the peer address as `ConnectInfo<SocketAddr>`, for whoever needs it (step 1
        // throttles sign-in attempts per client address).
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await
    }
}

/// Ctrl-C or SIGTERM: what every long-running binary of the workspace stops on.
///
/// The handlers are installed when this is called, not when the future is first polled: call
/// it before announcing the address, so that whoever reads the announcement and sends SIGTERM
/// at once finds a handler (and a graceful stop) rather than the default action, death by
/// signal. Must be called inside a Tokio runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let stop = {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            tokio::select! {
                () = next_signal(interrupt, "SIGINT") => {},
                () = next_signal(terminate, "SIGTERM") => {},
            }
        }
    };
    #[cfg(not(unix))]
    let stop = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    async move {
        stop.await;
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

/// The next delivery of an installed signal; never, if it could not be installed.
#[cfg(unix)]
async fn next_signal(installed: std::io::Result<tokio::signal::unix::Signal>, name: &str) {
    match installed {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(err) => {
            tracing::error!(%err, "cannot listen for {name}");
            std::future::pending::<()>().await;
        }
    }
}

#[doc(hidden)]
pub use axum as __axum;

/// A step's application state behind one `Arc`: the newtype, `Deref` to what it holds,
/// copy-on-write `DerefMut` (for wiring, while there is one owner), `From` the inner value,
/// and `FromRef` for each listed field, so handlers keep asking for the piece they need.
///
/// Why: axum clones a router's state for every request (each route's service, and every
/// middleware made with `from_fn_with_state`, is cloned to serve it). Step 4's flamegraph of
/// cached reads showed a fifth of the CPU in cloning and dropping states that were plain
/// structs of services; behind one `Arc` a clone is one counter increment.
///
/// ```ignore
/// common::shared_state! {
///     /// Step 1's state.
///     pub struct AppState(State);
///     common::AppState => base,
///     Sessions => sessions,
/// }
/// ```
#[macro_export]
macro_rules! shared_state {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident($inner:ty);
        $($ty:ty => $field:ident),* $(,)?
    ) => {
        $(#[$meta])*
        #[derive(Clone)]
        $vis struct $name(::std::sync::Arc<$inner>);

        impl ::std::ops::Deref for $name {
            type Target = $inner;
            fn deref(&self) -> &$inner {
                &self.0
            }
        }

        impl ::std::ops::DerefMut for $name {
            /// Copy on write: a clone already handed out never changes.
            fn deref_mut(&mut self) -> &mut $inner {
                ::std::sync::Arc::make_mut(&mut self.0)
            }
        }

        impl ::std::convert::From<$inner> for $name {
            fn from(state: $inner) -> Self {
                Self(::std::sync::Arc::new(state))
            }
        }

        $(impl $crate::startup::__axum::extract::FromRef<$name> for $ty {
            fn from_ref(state: &$name) -> Self {
                state.$field.clone()
            }
        })*
    };
}
