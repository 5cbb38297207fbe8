//! A local OpenID provider, started by the harness in place of Google at the network boundary:
//! real HTTP endpoints (authorize, token, JWKS) and real RS256 ID tokens signed with an RSA key
//! it generates. It is as strict as Google where that matters to the app: registered client
//! and exact redirect URI, S256 PKCE checked at the token endpoint, one-time codes.
//!
//! Tests steer it through [`ProviderState`]: who signs in at the authorize endpoint
//! ([`Identity`]), how the next ID token is spoiled ([`Spoil`]), and whether the token
//! endpoint is down.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "shop-test-client.apps.example";
pub const CLIENT_SECRET: &str = "test-client-secret";
/// The redirect URI registered with the provider and configured in the app. Its host is not
/// the app's: the test "browser" follows it to wherever the app really listens, the way a
/// public URL reaches an app behind a proxy.
pub const REDIRECT_URI: &str = "http://shop.localhost/api/v1/auth/google/callback";

/// An RSA signing key and its public JWK.
pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub jwk: Value,
}

fn generate(kid: &str) -> SigningKey {
    let mut rng = rsa::rand_core::OsRng;
    let private = RsaPrivateKey::new(&mut rng, 2048).expect("an RSA key");
    let der = private.to_pkcs1_der().expect("PKCS#1 DER");
    let public = private.to_public_key();
    SigningKey {
        kid: kid.to_owned(),
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }),
    }
}

/// Generated once per test process: RSA key generation is the slow part.
static KEYS: LazyLock<(SigningKey, SigningKey)> =
    LazyLock::new(|| (generate("provider-key-1"), generate("unpublished-key")));

/// The account that "signs in" at the authorize endpoint.
#[derive(Debug, Clone)]
pub struct Identity {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
}

impl Identity {
    pub fn verified(email: &str) -> Self {
        Self {
            sub: format!("google-{}", uuid::Uuid::new_v4().simple()),
            email: email.to_owned(),
            email_verified: true,
            name: "Grace Google".to_owned(),
        }
    }
}

/// How the next ID token is made wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spoil {
    Nothing,
    WrongAudience,
    WrongNonce,
    NoNonce,
    Expired,
    WrongIssuer,
    /// Signed with a key the JWKS does not publish (under a kid it does not list).
    UnpublishedKey,
    /// Signed with the unpublished key but claiming the published kid.
    ForgedSignature,
    /// `alg: none`, no signature.
    Unsigned,
    /// HS256 "signed" with the public key's modulus: the classic algorithm-confusion attack.
    Hs256WithPublicKey,
}

struct Grant {
    challenge: String,
    nonce: String,
    redirect_uri: String,
    identity: Identity,
    used: bool,
}

pub struct ProviderState {
    pub issuer: String,
    pub identity: Mutex<Identity>,
    pub spoil: Mutex<Spoil>,
    pub token_endpoint_down: AtomicBool,
    pub token_calls: AtomicUsize,
    codes: Mutex<HashMap<String, Grant>>,
}

pub struct Provider {
    pub base_url: String,
    pub state: Arc<ProviderState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Provider {
    pub async fn start() -> Self {
        LazyLock::force(&KEYS);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ProviderState {
            issuer: base_url.clone(),
            identity: Mutex::new(Identity::verified("nobody@example.test")),
            spoil: Mutex::new(Spoil::Nothing),
            token_endpoint_down: AtomicBool::new(false),
            token_calls: AtomicUsize::new(0),
            codes: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/jwks", get(jwks))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url,
            state,
            server,
        }
    }

    pub fn sign_in_as(&self, identity: Identity) {
        *self.state.identity.lock().unwrap() = identity;
    }

    pub fn spoil_next(&self, spoil: Spoil) {
        *self.state.spoil.lock().unwrap() = spoil;
    }
}

/// Points step 1's Google settings at the provider at `base_url`.
pub fn configure(base_url: &str, config: &mut step01_security::Config) {
    let google = &mut config.security.google;
    google.client_id = Some(CLIENT_ID.to_owned());
    google.client_secret = Some(CLIENT_SECRET.to_owned().into());
    google.redirect_url = REDIRECT_URI.to_owned();
    google.auth_url = format!("{base_url}/authorize");
    google.token_url = format!("{base_url}/token");
    google.jwks_url = format!("{base_url}/jwks");
    google.issuers = vec![base_url.to_owned()];
    google.timeout_ms = 2_000;
}

fn refuse(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

async fn authorize(
    State(state): State<Arc<ProviderState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    // Like Google: an unknown client or redirect URI is shown to the user, never redirected to.
    if get("client_id") != CLIENT_ID || get("redirect_uri") != REDIRECT_URI {
        return refuse(StatusCode::BAD_REQUEST, "redirect_uri_mismatch");
    }
    if get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
        || !get("scope").split(' ').any(|s| s == "openid")
    {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let code = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
    state.codes.lock().unwrap().insert(
        code.clone(),
        Grant {
            challenge: get("code_challenge"),
            nonce: get("nonce"),
            redirect_uri: get("redirect_uri"),
            identity: state.identity.lock().unwrap().clone(),
            used: false,
        },
    );
    let location = format!(
        "{}?code={}&state={}&scope=openid%20email%20profile&authuser=0",
        get("redirect_uri"),
        code,
        urlencode(&get("state"))
    );
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)]).unwrap()[2..].to_owned()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn client_authenticated(headers: &HeaderMap, form: &TokenForm) -> bool {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    match basic {
        Some(pair) => pair == format!("{CLIENT_ID}:{CLIENT_SECRET}"),
        None => {
            form.client_id.as_deref() == Some(CLIENT_ID)
                && form.client_secret.as_deref() == Some(CLIENT_SECRET)
        }
    }
}

async fn token(
    State(state): State<Arc<ProviderState>>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    state.token_calls.fetch_add(1, Ordering::SeqCst);
    if state.token_endpoint_down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    if !client_authenticated(&headers, &form) {
        return refuse(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if form.grant_type != "authorization_code" {
        return refuse(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let (identity, nonce) = {
        let mut codes = state.codes.lock().unwrap();
        let Some(grant) = codes.get_mut(&form.code) else {
            return refuse(StatusCode::BAD_REQUEST, "invalid_grant");
        };
        let verifier = form.code_verifier.unwrap_or_default();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if grant.used || grant.redirect_uri != form.redirect_uri || grant.challenge != challenge {
            // A replayed code also revokes what it issued, at Google; nothing to revoke here.
            grant.used = true;
            return refuse(StatusCode::BAD_REQUEST, "invalid_grant");
        }
        grant.used = true;
        (grant.identity.clone(), grant.nonce.clone())
    };
    let spoil = std::mem::replace(&mut *state.spoil.lock().unwrap(), Spoil::Nothing);
    let id_token = id_token(&state.issuer, &identity, &nonce, spoil);
    Json(json!({
        "access_token": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>()),
        "token_type": "Bearer",
        "expires_in": 3599,
        "scope": "openid email profile",
        "id_token": id_token,
    }))
    .into_response()
}

/// An ID token for `identity`, made wrong as `spoil` says.
pub fn id_token(issuer: &str, identity: &Identity, nonce: &str, spoil: Spoil) -> String {
    let (published, unpublished) = &*KEYS;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({
        "iss": issuer,
        "aud": CLIENT_ID,
        "azp": CLIENT_ID,
        "sub": identity.sub,
        "email": identity.email,
        "email_verified": identity.email_verified,
        "name": identity.name,
        "nonce": nonce,
        "iat": now,
        "exp": now + 300,
    });
    match spoil {
        Spoil::WrongAudience => claims["aud"] = json!("someone-elses-client"),
        Spoil::WrongNonce => claims["nonce"] = json!("a-nonce-from-another-sign-in"),
        Spoil::NoNonce => {
            claims.as_object_mut().unwrap().remove("nonce");
        }
        Spoil::Expired => {
            claims["iat"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
        }
        Spoil::WrongIssuer => claims["iss"] = json!("https://accounts.evil.example"),
        _ => {}
    }
    let sign = |key: &SigningKey, kid: &str| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
    };
    match spoil {
        Spoil::UnpublishedKey => sign(unpublished, &unpublished.kid),
        Spoil::ForgedSignature => sign(unpublished, &published.kid),
        Spoil::Unsigned => {
            let header =
                URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": published.kid}).to_string());
            let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
            format!("{header}.{payload}.")
        }
        Spoil::Hs256WithPublicKey => {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(published.kid.clone());
            let n = published.jwk["n"].as_str().unwrap().as_bytes().to_vec();
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&n)).unwrap()
        }
        _ => sign(published, &published.kid),
    }
}

async fn jwks() -> Json<Value> {
    Json(json!({ "keys": [KEYS.0.jwk.clone()] }))
}
