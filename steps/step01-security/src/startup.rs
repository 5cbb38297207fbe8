//! Wiring: step 1's [`Step`]: its parts (step 0's, plus step 1's stores and where revoked
//! sessions are remembered), its state (step 0's, with argon2id accounts and the new token
//! verifier swapped in, plus the new components), its routes (step 0's with step 1's `/auth`)
//! and its layers (security headers and CORS around step 0's).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use common::Step;
use common::auth::{JwtKeys, PasswordScheme, Verifier};
use common::services::{Accounts, Catalog};
use common::step::Extends;
use common::store::mongo::Mongo;
use derive_more::{Deref, DerefMut};
use mongodb::Database;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::Config;
use crate::crypto::FieldCipher;
use crate::google::GoogleLogin;
use crate::passwords::Argon2id;
use crate::profiles::Profiles;
use crate::routes::{self, ClientIpPolicy};
use crate::sessions::Sessions;
use crate::store::mongo::{MongoAudit, MongoOAuth, MongoProfiles, MongoSessions};
use crate::store::{AuditLog, OAuthStore, ProfileStore, SessionStore};
use crate::throttle::LoginThrottle;
use crate::tokens::{AccessTokens, RevokedSessions, SessionRevocations};

/// The password scheme, as a piece of state (password change hashes with it).
#[derive(Clone)]
pub struct Passwords(pub Arc<dyn PasswordScheme>);

/// How the Google sign-in cookie is set.
#[derive(Clone, Copy, Debug)]
pub struct CookiePolicy {
    pub secure: bool,
    pub attempt_ttl_secs: u64,
}

/// Step 1's stores, beside step 0's [`common::store::Stores`].
#[derive(Clone)]
pub struct SecurityStores {
    pub sessions: Arc<dyn SessionStore>,
    pub audit: Arc<dyn AuditLog>,
    pub oauth: Arc<dyn OAuthStore>,
    pub profiles: Arc<dyn ProfileStore>,
}

impl SecurityStores {
    pub fn mongo(db: &Database) -> Self {
        Self {
            sessions: Arc::new(MongoSessions::new(db)),
            audit: Arc::new(MongoAudit::new(db)),
            oauth: Arc::new(MongoOAuth::new(db)),
            profiles: Arc::new(MongoProfiles::new(db)),
        }
    }
}

common::shared_state! {
    /// Step 1's application state: step 0's, plus what step 1 adds ([`State`]), behind one
    /// `Arc` (axum clones a router's state per request; see `common::shared_state!`).
    /// Handlers still ask for the piece they need (`State<Sessions>`, `State<Catalog>`).
    pub struct AppState(State);
    AccessTokens => tokens,
    Sessions => sessions,
    LoginThrottle => throttle,
    GoogleLogin => google,
    Profiles => profiles,
    Passwords => passwords,
    ClientIpPolicy => client_ip,
    CookiePolicy => cookies,
    // Step 0's, asked for by step 1's handlers.
    Accounts => accounts,
    Catalog => catalog,
    Verifier => verifier,
}

/// What [`AppState`] holds: step 0's state (`base`, reached through `Deref`) and step 1's.
#[derive(Clone, Deref, DerefMut)]
pub struct State {
    /// Step 0's state, with `accounts` (argon2id) and `verifier` (step 1's access tokens)
    /// replaced, so every step-0 route authenticates the step-1 way.
    #[deref]
    #[deref_mut]
    pub base: common::AppState,
    pub tokens: AccessTokens,
    pub sessions: Sessions,
    pub throttle: LoginThrottle,
    pub google: GoogleLogin,
    pub profiles: Profiles,
    pub passwords: Passwords,
    pub client_ip: ClientIpPolicy,
    pub cookies: CookiePolicy,
}

/// What step 1's state is wired from: step 0's parts, step 1's stores, and where revoked
/// sessions are remembered (this process's memory here; step 3 keeps them in Redis, shared by
/// every instance).
#[derive(Deref, DerefMut)]
pub struct Parts {
    #[deref]
    #[deref_mut]
    pub base: common::startup::Parts,
    pub security: SecurityStores,
    pub revocations: Arc<dyn SessionRevocations>,
}

impl Extends for AppState {
    type Base = common::AppState;
    const NUMBER: u8 = 1;
    const TITLE: &'static str = "security";
    type Config = Config;
    type Parts = Parts;

    fn base(&self) -> &common::AppState {
        &self.base
    }

    async fn prepare_own(db: &Mongo, _config: &Config) -> anyhow::Result<()> {
        crate::store::mongo::ensure_indexes(db)
            .await
            .context("preparing step 1's collections")
    }

    async fn extend_parts(
        db: &Mongo,
        config: &Config,
        base: common::startup::Parts,
    ) -> anyhow::Result<Parts> {
        let tokens = &config.security.tokens;
        Ok(Parts {
            base,
            security: SecurityStores::mongo(db),
            revocations: Arc::new(RevokedSessions::new(
                tokens.access_ttl_secs,
                tokens.leeway_secs,
            )),
        })
    }

    async fn wire(config: &Config, parts: Parts) -> anyhow::Result<Self> {
        let Parts {
            base: parts,
            security,
            revocations,
        } = parts;
        let users = parts.stores.users.clone();
        let mut base = common::AppState::from_parts(config, parts).await?;
        let passwords: Arc<dyn PasswordScheme> =
            Arc::new(Argon2id::new(&config.security.passwords)?);
        // Step 0's HS256 keys stay inside `Accounts` only for its own `login`/`register`,
        // which step 1's routes do not call.
        base.accounts = Accounts::new(users.clone(), JwtKeys::new(&config.auth), passwords.clone());
        let token_config = &config.security.tokens;
        let tokens = AccessTokens::with_revocations(config, revocations)?;
        base.verifier = Arc::new(tokens.clone());
        let sessions = Sessions::new(
            security.sessions,
            security.audit,
            users.clone(),
            tokens.clone(),
            token_config.refresh_ttl_secs,
            token_config.session_max_age_secs,
        );
        let cipher = FieldCipher::new(config.encryption_keys()?, config.active_encryption_kid()?)?;
        let google = GoogleLogin::new(
            &config.security.google,
            token_config.leeway_secs.max(30),
            security.oauth,
            users,
            passwords.clone(),
        )?;
        Ok(Self::from(State {
            base,
            tokens,
            sessions,
            throttle: LoginThrottle::new(&config.security.throttle),
            google,
            profiles: Profiles::new(security.profiles, cipher),
            passwords: Passwords(passwords),
            client_ip: ClientIpPolicy::from_trust_flag(
                config.security.throttle.trust_forwarded_for,
            ),
            cookies: CookiePolicy {
                secure: config.security.google.cookie_secure,
                attempt_ttl_secs: config.security.google.attempt_ttl_secs,
            },
        }))
    }

    /// Step 0's routes with step 1's `/auth` and `/profile` in place of step 0's `/auth`
    /// (`common::routes::router_with_auth`); step 0's run with step 0's state, whose accounts and
    /// verifier are step 1's.
    fn all_routes(&self, _config: &Config) -> Router {
        let step1 = routes::api_v1().with_state(self.clone());
        common::routes::router_with_auth(step1).with_state(self.base.clone())
    }

    /// Security headers and CORS around everything, error answers included.
    fn outer_layer(&self, routes: Router, config: &Config) -> Router {
        with_security_layers(routes, config)
    }
}

/// The headers every answer carries, and CORS when origins are configured.
pub fn with_security_layers<S>(routes: Router<S>, config: &Config) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    // One `Router::layer` for all of them: each call wraps (and boxes) every route again, and
    // a boxed route is cloned, with all it wraps, for every request it serves. Step 4's
    // flamegraph of cached reads found eight nested clones here, one per header.
    let headers = ServiceBuilder::new()
        // The browser must not guess a JSON answer is HTML or script.
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Nothing of this API belongs in a frame (clickjacking).
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        // An API answer is data: it may load nothing and be framed by no one.
        .layer(set(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
        // URLs (which may carry ids) do not leak to other sites.
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
        .layer(set(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        .layer(set(
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ))
        // Tokens and personal data must not sit in shared or browser caches (RFC 6749 5.1).
        .layer(set(header::CACHE_CONTROL, "no-store"))
        .option_layer(config.security.headers.hsts.then(|| {
            set(
                header::STRICT_TRANSPORT_SECURITY,
                "max-age=31536000; includeSubDomains",
            )
        }));
    let mut routes = routes.layer(headers);
    let origins: Vec<HeaderValue> = config
        .security
        .cors
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if !origins.is_empty() {
        routes = routes.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    HeaderName::from_static("x-request-id"),
                ])
                // Step 2's rate-limit fields are exposed here, with every other header a
                // script may read, so there is one list.
                .expose_headers([
                    HeaderName::from_static("x-request-id"),
                    header::RETRY_AFTER,
                    HeaderName::from_static("ratelimit-limit"),
                    HeaderName::from_static("ratelimit-remaining"),
                    HeaderName::from_static("ratelimit-reset"),
                    HeaderName::from_static("ratelimit-policy"),
                ])
                .max_age(Duration::from_secs(config.security.cors.max_age_secs)),
        );
    }
    routes
}
