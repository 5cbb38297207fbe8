//! A thin HTTP client for the shop API. Every call returns a [`Reply`] (status, content type,
//! raw body) instead of failing on non-2xx, because error answers are half of the contract.
//! The `expect_*` methods turn a reply into a value or an error whose message names the
//! request, what was expected and what came back (status and body), so a failing case can be
//! diagnosed from the report alone.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::model::{ApiError, FieldError};

/// The API's version prefix; `/health` lives outside it.
pub const API: &str = "/api/v1";

/// A request that takes longer than this counts as a failure of the case, not a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Bodies longer than this are cut in failure messages; a 64 KiB echo helps nobody.
const BODY_IN_MESSAGES: usize = 1500;

/// A client for one base URL, optionally signed in. Cloning is cheap and shares the
/// connection pool.
#[derive(Clone, Debug)]
pub struct Api {
    base_url: String,
    http: reqwest::Client,
    /// Sent as `Authorization: Bearer <token>` on every request when set.
    token: Option<String>,
}

impl Api {
    pub fn new(base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            // A new connection for every request. A server may close a kept-alive connection
            // whenever it is idle (after an answer it sent without reading the whole body,
            // after its header-read timeout), and a request sent on it at that moment fails
            // with no answer: a race of HTTP/1.1 that would fail a case for the transport,
            // not for what the server answered. The suites judge answers; the cases about
            // connections open their own.
            .pool_max_idle_per_host(0)
            .build()
            .expect("a reqwest client with a timeout always builds");
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            http,
            token: None,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The same client, signed in with `token`.
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        Self {
            token: Some(token.into()),
            ..self.clone()
        }
    }

    /// The same client, signed out.
    pub fn anonymous(&self) -> Self {
        Self {
            token: None,
            ..self.clone()
        }
    }

    /// A request to `path` (starting with `/`), with the bearer token if signed in. For the
    /// cases that need odd headers or raw bodies; send it with [`Api::send`].
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{}", self.base_url, path));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn send(&self, request: RequestBuilder) -> Result<Reply> {
        let request = request.build().context("building a request")?;
        let method = request.method().clone();
        let path = match request.url().query() {
            Some(query) => format!("{}?{}", request.url().path(), query),
            None => request.url().path().to_owned(),
        };
        let response = self
            .http
            .execute(request)
            .await
            .with_context(|| format!("{method} {path}: no HTTP response"))?;
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .with_context(|| format!("{method} {path}: reading the response body"))?;
        Ok(Reply {
            method,
            path,
            status,
            content_type,
            headers,
            body,
        })
    }

    pub async fn get(&self, path: &str) -> Result<Reply> {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Reply> {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// A JSON POST with extra headers, each value as raw bytes, in order (a name given twice
    /// is sent twice). A value HTTP cannot carry (NUL, CR, LF) is an error here: a case
    /// sends those over raw TCP.
    pub async fn post_with_headers(
        &self,
        path: &str,
        headers: &[(&str, &[u8])],
        body: &Value,
    ) -> Result<Reply> {
        let mut request = self.request(Method::POST, path).json(body);
        for (name, value) in headers {
            let value = reqwest::header::HeaderValue::from_bytes(value)
                .with_context(|| format!("a header {name} of {value:?}"))?;
            request = request.header(*name, value);
        }
        self.send(request).await
    }

    /// A POST without a body, for actions such as `/orders/{id}/ship`.
    pub async fn post_empty(&self, path: &str) -> Result<Reply> {
        self.send(self.request(Method::POST, path)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Reply> {
        self.send(self.request(Method::PUT, path).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Reply> {
        self.send(self.request(Method::DELETE, path)).await
    }

    // --- one method per endpoint -------------------------------------------------------------

    /// POSTs a GraphQL operation; the answer's JSON whatever it holds (GraphQL answers its
    /// errors with 200).
    pub async fn graphql(&self, query: &str, variables: Value) -> Result<Value> {
        self.post(
            "/graphql",
            &json!({ "query": query, "variables": variables }),
        )
        .await?
        .expect_value(200)
    }

    pub async fn health(&self) -> Result<Reply> {
        self.get("/health").await
    }

    pub async fn register(&self, email: &str, password: &str, name: &str) -> Result<Reply> {
        let body = serde_json::json!({ "email": email, "password": password, "name": name });
        self.register_raw(&body).await
    }

    pub async fn register_raw(&self, body: &Value) -> Result<Reply> {
        self.post(&format!("{API}/auth/register"), body).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<Reply> {
        let body = serde_json::json!({ "email": email, "password": password });
        self.post(&format!("{API}/auth/login"), &body).await
    }

    /// Logs in and returns the token; for the admin account of a [`crate::Target`].
    pub async fn admin_token(&self, email: &str, password: &str) -> Result<String> {
        let logged_in: crate::model::LoggedIn = self
            .login(email, password)
            .await?
            .expect_json(200)
            .context("logging in as the target's admin (check --admin-email/--admin-password)")?;
        Ok(logged_in.token)
    }

    pub async fn me(&self) -> Result<Reply> {
        self.get(&format!("{API}/auth/me")).await
    }

    /// `query` without the `?`, e.g. `page=2&limit=5`; empty for the defaults.
    pub async fn list_products(&self, query: &str) -> Result<Reply> {
        self.get(&with_query(&format!("{API}/products"), query))
            .await
    }

    pub async fn get_product(&self, id: &str) -> Result<Reply> {
        self.get(&format!("{API}/products/{id}")).await
    }

    pub async fn create_product(&self, body: &Value) -> Result<Reply> {
        self.post(&format!("{API}/products"), body).await
    }

    pub async fn update_product(&self, id: &str, body: &Value) -> Result<Reply> {
        self.put(&format!("{API}/products/{id}"), body).await
    }

    pub async fn delete_product(&self, id: &str) -> Result<Reply> {
        self.delete(&format!("{API}/products/{id}")).await
    }

    pub async fn list_reviews(&self, product_id: &str, query: &str) -> Result<Reply> {
        self.get(&with_query(
            &format!("{API}/products/{product_id}/reviews"),
            query,
        ))
        .await
    }

    pub async fn post_review(&self, product_id: &str, rating: i64, comment: &str) -> Result<Reply> {
        let body = serde_json::json!({ "rating": rating, "comment": comment });
        self.post(&format!("{API}/products/{product_id}/reviews"), &body)
            .await
    }

    pub async fn place_order(&self, body: &Value) -> Result<Reply> {
        self.post(&format!("{API}/orders"), body).await
    }

    pub async fn list_orders(&self, query: &str) -> Result<Reply> {
        self.get(&with_query(&format!("{API}/orders"), query)).await
    }

    pub async fn get_order(&self, id: &str) -> Result<Reply> {
        self.get(&format!("{API}/orders/{id}")).await
    }

    pub async fn pay_order(&self, id: &str, card_token: &str) -> Result<Reply> {
        self.pay_order_raw(id, &serde_json::json!({ "card_token": card_token }))
            .await
    }

    pub async fn pay_order_raw(&self, id: &str, body: &Value) -> Result<Reply> {
        self.post(&format!("{API}/orders/{id}/pay"), body).await
    }

    pub async fn ship_order(&self, id: &str) -> Result<Reply> {
        self.post_empty(&format!("{API}/orders/{id}/ship")).await
    }

    pub async fn cancel_order(&self, id: &str) -> Result<Reply> {
        self.post_empty(&format!("{API}/orders/{id}/cancel")).await
    }
}

fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// One HTTP answer, kept whole so that a failed expectation can show it.
#[derive(Clone, Debug)]
pub struct Reply {
    pub method: Method,
    /// Path and query, as sent.
    pub path: String,
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    /// `POST /api/v1/orders -> 409 Conflict (application/json): {"error":...}`.
    pub fn describe(&self) -> String {
        let body = if self.body.is_empty() {
            "(empty body)".to_owned()
        } else if self.body.len() > BODY_IN_MESSAGES {
            let mut end = BODY_IN_MESSAGES;
            while !self.body.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}... ({} bytes)", &self.body[..end], self.body.len())
        } else {
            self.body.clone()
        };
        format!(
            "{} {} -> {} ({}): {}",
            self.method,
            self.path,
            self.status,
            self.content_type.as_deref().unwrap_or("no content-type"),
            body
        )
    }

    /// A response header as text (`None` when absent or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn is_json(&self) -> bool {
        self.content_type.as_deref().is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
    }

    /// The body as JSON, whatever the status.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.body)
            .map_err(|e| anyhow!("expected a JSON body ({e}), got {}", self.describe()))
    }

    /// Fails unless the status is `status`.
    pub fn expect_status(self, status: u16) -> Result<Self> {
        if self.status.as_u16() != status {
            bail!("expected {}, got {}", status_text(status), self.describe());
        }
        Ok(self)
    }

    /// Fails unless the status is `status`, the content type JSON, and the body a `T`.
    pub fn expect_json<T: DeserializeOwned>(self, status: u16) -> Result<T> {
        let reply = self.expect_status(status)?;
        if !reply.is_json() {
            bail!(
                "expected content-type application/json, got {}",
                reply.describe()
            );
        }
        serde_json::from_str(&reply.body).map_err(|e| {
            anyhow!(
                "expected {} with a {} body, but it does not parse ({e}): {}",
                status_text(status),
                short_type_name::<T>(),
                reply.describe()
            )
        })
    }

    /// [`Reply::expect_json`] into a raw `Value`, for checks on exact keys.
    pub fn expect_value(self, status: u16) -> Result<Value> {
        self.expect_json(status)
    }

    /// Fails unless this is a well-formed error answer with `status` and `code`.
    pub fn expect_error(self, status: u16, code: &str) -> Result<ApiError> {
        let error = self.error_shape().with_context(|| {
            format!("expected {} {code} in the error shape", status_text(status))
        })?;
        if self.status.as_u16() != status || error.code != code {
            bail!(
                "expected {} {code}, got {}",
                status_text(status),
                self.describe()
            );
        }
        Ok(error)
    }

    /// A 422 VALIDATION_FAILED whose `fields` name every one of `fields`.
    pub fn expect_validation(self, fields: &[&str]) -> Result<ApiError> {
        let description = self.describe();
        let error = self.expect_error(422, "VALIDATION_FAILED")?;
        for field in fields {
            if !error.names_field(field) {
                bail!(
                    "expected 422 VALIDATION_FAILED naming field `{field}`, but fields are {:?}: {description}",
                    error.field_names()
                );
            }
        }
        Ok(error)
    }

    /// A well-formed error with one of `statuses`, any code; for answers the contract leaves
    /// open (a float price may be refused as malformed or as invalid).
    pub fn expect_rejection(self, statuses: &[u16]) -> Result<ApiError> {
        let error = self
            .error_shape()
            .with_context(|| format!("expected a {statuses:?} error in the error shape"))?;
        if !statuses.contains(&self.status.as_u16()) {
            bail!("expected one of {statuses:?}, got {}", self.describe());
        }
        Ok(error)
    }

    /// Checks the error shape shared by every error answer and returns it:
    /// JSON content type and `{"error": {"code", "message", "fields"?, "request_id"?}}`.
    pub fn error_shape(&self) -> Result<ApiError> {
        if !(self.status.is_client_error() || self.status.is_server_error()) {
            bail!("expected an error status, got {}", self.describe());
        }
        if !self.is_json() {
            bail!(
                "expected an error with content-type application/json, got {}",
                self.describe()
            );
        }
        let value = self.json()?;
        parse_error(&value).map_err(|problem| {
            anyhow!(
                "expected the error shape {{\"error\": {{\"code\", \"message\", ...}}}}, but {problem}: {}",
                self.describe()
            )
        })
    }
}

/// Validates and extracts the error shape; `Err` says what is wrong with it.
pub fn parse_error(value: &Value) -> std::result::Result<ApiError, String> {
    let error = value
        .get("error")
        .and_then(Value::as_object)
        .ok_or("there is no `error` object")?;
    let code = error
        .get("code")
        .and_then(Value::as_str)
        .ok_or("`error.code` is not a string")?;
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
        return Err(format!("`error.code` {code:?} is not SCREAMING_SNAKE_CASE"));
    }
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .ok_or("`error.message` is not a string")?;
    if message.trim().is_empty() {
        return Err("`error.message` is empty".to_owned());
    }
    let fields = match error.get("fields") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                let field = item.get("field").and_then(Value::as_str);
                let reason = item.get("reason").and_then(Value::as_str);
                match (field, reason) {
                    (Some(field), Some(reason)) => Ok(FieldError {
                        field: field.to_owned(),
                        reason: reason.to_owned(),
                    }),
                    _ => Err(format!(
                        "`error.fields` entry {item} lacks a string `field` and `reason`"
                    )),
                }
            })
            .collect::<std::result::Result<_, _>>()?,
        Some(other) => return Err(format!("`error.fields` is {other}, not an array")),
    };
    let request_id = match error.get("request_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(other) => return Err(format!("`error.request_id` is {other}, not a string")),
    };
    Ok(ApiError {
        code: code.to_owned(),
        message: message.to_owned(),
        fields,
        request_id,
    })
}

fn status_text(status: u16) -> String {
    match StatusCode::from_u16(status) {
        Ok(code) => code.to_string(),
        Err(_) => status.to_string(),
    }
}

/// `Page<Product>` rather than `tests::model::Page<tests::model::Product>`.
fn short_type_name<T>() -> String {
    let mut out = String::new();
    let mut path = String::new();
    for c in std::any::type_name::<T>().chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            path.push(c);
        } else {
            out.push_str(path.rsplit("::").next().unwrap_or(&path));
            path.clear();
            out.push(c);
        }
    }
    out.push_str(path.rsplit("::").next().unwrap_or(&path));
    out
}

#[cfg(test)]
mod tests;
