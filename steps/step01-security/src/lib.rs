//! # Step 1: security
//!
//! ## What this step adds
//! Step 0's monolith, hardened where attackers look first, without changing any other route:
//! - **Short-lived access tokens** (15 min) with `iss`, `aud`, `exp`, `iat`, `nbf`, `sub`,
//!   `jti` and a `kid` from a rotating key ring, checked the RFC 8725 way.
//! - **Rotating refresh tokens** (256 random bits, stored as SHA-256) in families, one per
//!   sign-in: each refresh retires the token it used; a retired token presented again revokes
//!   the whole family and writes an audit event. Logout, logout-all, a list of sessions with
//!   revoke, and a password change that ends every other session.
//! - **Sign in with Google**: authorization code + PKCE + one-time state + nonce, through the
//!   `oauth2` crate, with the ID token checked against the provider's keys.
//! - **Field encryption**: phone, shipping addresses and payment-method reference sealed with
//!   AES-256-GCM, bound to their document and field, under key ids; a resumable
//!   `rotate-keys` command.
//! - **argon2id** (OWASP parameters) for new hashes; step 0's bcrypt hashes are upgraded at the
//!   next login.
//! - **Security headers**, **CORS** from configuration, **login throttling** per account and
//!   per address.
//!
//! ## Why
//! Step 0's one-hour token could not be recalled, bcrypt truncates at 72 bytes, and a database
//! dump gave away phone numbers and addresses. Each mechanism here answers one named attack;
//! the chapter (`docs/01-security.md`) lists them with the standard each comes from (OWASP
//! ASVS V3, RFC 9700, RFC 8725, the OWASP password storage cheat sheet). Rejected: asymmetric
//! access tokens (nothing outside this process verifies them yet; step 10's gateway will),
//! opaque access tokens looked up per request (a database read on every request), refresh
//! tokens in cookies (the API's clients are not only browsers), and creating accounts from
//! unverified Google emails (it lets anyone pre-claim an address).
//!
//! ## Try it
//! ```text
//! cargo xtask step 1          # this crate's tests, the contract suites 0-1 and the hostile suites 0-1
//! curl -s -X POST localhost:8080/api/v1/auth/login -H 'content-type: application/json' \
//!      -d '{"email":"admin@stepwise.test","password":"..."}' | jq '{token, refresh_token}'
//! ```
//!
//! ## Map of the crate
//! - [`config`]: step 0's config plus the `security` section.
//! - [`tokens`]: access tokens, the key ring, the in-memory list of revoked sessions.
//! - [`sessions`]: refresh-token families, rotation, reuse detection, revocation.
//! - [`passwords`]: argon2id, and the bcrypt upgrade.
//! - [`throttle`]: failed sign-ins per account and per address.
//! - [`google`]: the OpenID Connect flow and the ID-token checks.
//! - [`crypto`], [`profiles`]: AES-256-GCM field encryption and the encrypted profile, with
//!   key rotation.
//! - [`store`]: step 1's stores (sessions, audit log, sign-in attempts, profiles).
//! - [`routes`], [`error`]: the new routes and step 1's error answers; [`client_ip`]: who is
//!   calling, by address (also behind proxies).
//! - [`startup`]: step 1's [`common::Step`]: parts, state, routes, layers; [`cli`]: its
//!   binary's commands; [`testing`]: its test configuration, which later steps build on.
//!
//! ## Next
//! Step 2 (`steps/step02-apis`) refines the API: pagination, filtering, `/api/v2`, rate
//! limiting with standard headers, OpenAPI, GraphQL and gRPC.

pub mod cli;
pub mod client_ip;
pub mod config;
pub mod crypto;
pub mod error;
pub mod google;
pub mod passwords;
pub mod profiles;
pub mod routes;
pub mod sessions;
pub mod startup;
pub mod store;
pub mod testing;
pub mod throttle;
pub mod tokens;

pub use config::Config;
pub use error::{Error, Result};
pub use startup::AppState;
