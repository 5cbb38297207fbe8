//! Wiring: step 0's application state and its [`Step`] implementation (the parts it is wired
//! from, its routes, the layers every step serves with), and [`Application`], which binds the
//! listener (port 0 in tests) and serves until Ctrl-C or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use mongodb::Database;
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
use crate::serve::{self, Limits};
use crate::services::{
    Accounts, Catalog, Direct, HealthChecks, MongoHealth, Open, OrderFlow, OrderWrites, Ordering,
};
use crate::step::Step;
use crate::store::Stores;
use crate::store::mongo::{self, Mongo};

crate::shared_state! {
    /// Step 0's application state, behind one `Arc` (see [`shared_state!`]). Handlers extract
    /// the piece they need through `FromRef` (`State<Catalog>`).
    pub struct AppState(State);
    Accounts => accounts,
    Catalog => catalog,
    Ordering => ordering,
    Verifier => verifier,
    HealthChecks => health,
}

/// What [`AppState`] holds: the services the routes call.
#[derive(Clone)]
pub struct State {
    pub accounts: Accounts,
    pub catalog: Catalog,
    pub ordering: Ordering,
    pub verifier: Verifier,
    pub health: HealthChecks,
}

/// What step 0's state is wired from; later steps' parts hold these and add their own.
pub struct Parts {
    /// The prepared database, for a customizer that needs one (step 4 keeps a rating average
    /// beside the product store).
    pub db: Database,
    pub stores: Stores,
    /// The card payment provider (HTTP here; step 2 puts its gRPC payments service here).
    pub gateway: Arc<dyn PaymentGateway>,
    /// What admits order writes (all, here; step 5's cutover pauses them while it copies).
    pub order_writes: Arc<dyn OrderWrites>,
    /// How orders change once a request is checked: `None` is step 0's [`Direct`] flow over
    /// the stores and gateway above; step 6 puts its persisted saga here.
    pub order_flow: Option<FlowFactory>,
    /// What `GET /health` checks; later steps add theirs.
    pub health: HealthChecks,
}

/// Makes the order flow from the stores and the gateway as they are finally wired: after
/// every step's wrappers (step 3's cache among them), so the flow's stock moves invalidate
/// what the catalog caches.
pub type FlowFactory =
    Box<dyn FnOnce(&Stores, &Arc<dyn PaymentGateway>) -> Arc<dyn OrderFlow> + Send>;

impl Step for AppState {
    const NUMBER: u8 = 0;
    const TITLE: &'static str = "the baseline monolith";
    type Config = Config;
    type Parts = Parts;

    async fn prepare(db: &Mongo, _config: &Config) -> anyhow::Result<()> {
        mongo::ensure_indexes(db).await
    }

    async fn parts(db: &Mongo, config: &Config) -> anyhow::Result<Parts> {
        Ok(Parts {
            db: db.database().clone(),
            stores: Stores::mongo(db),
            gateway: Arc::new(HttpPaymentGateway::new(&config.payments)?),
            order_writes: Arc::new(Open),
            order_flow: None,
            health: HealthChecks::default().with(MongoHealth(db.database().clone())),
        })
    }

    async fn from_parts(config: &Config, parts: Parts) -> anyhow::Result<Self> {
        let Parts {
            stores,
            gateway,
            order_writes,
            order_flow,
            health,
            ..
        } = parts;
        let flow = match order_flow {
            Some(make) => make(&stores, &gateway),
            None => Arc::new(Direct {
                orders: stores.orders.clone(),
                products: stores.products.clone(),
                payments: stores.payments.clone(),
                gateway,
            }),
        };
        let keys = JwtKeys::new(&config.auth);
        let passwords = Arc::new(Bcrypt::new(config.auth.bcrypt_cost));
        Ok(Self::from(State {
            accounts: Accounts::new(stores.users.clone(), keys.clone(), passwords),
            catalog: Catalog::new(
                stores.products.clone(),
                stores.reviews.clone(),
                stores.users.clone(),
            ),
            ordering: Ordering {
                orders: stores.orders.clone(),
                products: stores.products.clone(),
                writes: order_writes,
                flow,
            },
            verifier: Arc::new(keys),
            health,
        }))
    }

    fn routes(&self, _config: &Config) -> Router {
        routes::router().with_state(self.clone())
    }

    fn layer(&self, routes: Router, config: &Config) -> Router {
        with_layers(routes, &config.server)
    }

    fn accounts(&self) -> &Accounts {
        &self.accounts
    }
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
                        // `trace_id` is empty unless a layer outside this one (step 9's) put
                        // the request's trace context in its extensions.
                        let span = tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id, trace_id = tracing::field::Empty);
                        if let Some(context) = req.extensions().get::<crate::trace::TraceContext>() {
                            span.record("trace_id", context.trace_id());
                        }
                        span
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

/// A bound listener, the router it serves, and the limits it serves connections under.
pub struct Application {
    listener: TcpListener,
    router: Router,
    limits: Limits,
}

impl Application {
    /// Binds `router` on `server` (port 0 picks a free one); [`Step::bound`] builds a
    /// step's state and router and binds them through here.
    pub async fn bind(server: &ServerConfig, router: Router) -> anyhow::Result<Self> {
        let addr = server.addr()?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        Ok(Self {
            listener,
            router,
            limits: Limits::from(server),
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` completes, then lets in-flight requests finish. Binaries pass
    /// [`shutdown_signal`], taken before they announce their address; tests pass a channel.
    /// Connections get the header-read and idle timeouts and the cap of [`ServerConfig`]
    /// (see [`crate::serve`]), and each request the peer address as
    /// `ConnectInfo<SocketAddr>` (step 1 throttles sign-in attempts per client address).
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        serve::serve(self.listener, self.router, self.limits, stop).await
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
/// Every step's state is made this way, the same for all.
///
/// A later step's inner state holds the previous step's state in a field `base` and derefs
/// to it (`derive_more::Deref`), so `state.catalog` reads step 0's catalog at any step, and a
/// listed field may sit in any earlier step (`Catalog => catalog`): list only what this
/// step's own handlers ask for.
///
/// Why the `Arc`: axum clones a router's state for every request (each route's service, and
/// every middleware made with `from_fn_with_state`, is cloned to serve it). Step 4's
/// flamegraph of cached reads showed a fifth of the CPU in cloning and dropping states that
/// were plain structs of services; behind one `Arc` a clone is one counter increment.
///
/// ```ignore
/// common::shared_state! {
///     /// Step 1's state.
///     pub struct AppState(State);
///     Sessions => sessions,
///     Verifier => verifier, // step 0's, through `State`'s `Deref` to `base`
/// }
///
/// #[derive(Clone, derive_more::Deref, derive_more::DerefMut)]
/// pub struct State {
///     #[deref]
///     #[deref_mut]
///     pub base: common::AppState,
///     pub sessions: Sessions,
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
