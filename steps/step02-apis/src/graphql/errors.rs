//! From the API's one error type to GraphQL errors. The `extensions.code` is the REST error
//! code (`NOT_FOUND`, `OUT_OF_STOCK`, `PAYMENT_DECLINED`, ...), so a client handles a failure
//! the same way whichever API it used; the one exception is a missing or bad token, which is
//! `UNAUTHENTICATED`, the name GraphQL clients look for. Rejected fields travel in
//! `extensions.fields` as `{field, reason}`, with GraphQL's argument names (`cardToken`).
//!
//! As in REST, server-side details are logged once here and never sent.

use async_graphql::{ErrorExtensions, Value};
use common::error::Error;

/// The code a missing, malformed, expired or revoked token gets.
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";

/// The GraphQL error for `error`.
pub fn to_graphql(error: Error) -> async_graphql::Error {
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(error = %error_chain(&error), %status, "graphql resolver failed");
    } else {
        tracing::debug!(error = %error, %status, "graphql request rejected");
    }
    let detail = error.detail();
    // The wait REST sends as `Retry-After`: a GraphQL answer has one status for all its
    // operations, so each refused one says its own.
    let retry_after = error.retry_after_secs();
    let code = match error {
        Error::Unauthorized => UNAUTHENTICATED,
        _ => detail.code,
    };
    let fields: Vec<Value> = detail
        .fields
        .iter()
        .map(|f| {
            Value::from_json(serde_json::json!({
                "field": camel_case_path(&f.field),
                "reason": f.reason,
            }))
            .unwrap_or(Value::Null)
        })
        .collect();
    async_graphql::Error::new(detail.message).extend_with(|_, ext| {
        ext.set("code", code);
        ext.set("status", i32::from(status.as_u16()));
        if !fields.is_empty() {
            ext.set("fields", Value::List(fields.clone()));
        }
        if let Some(seconds) = retry_after {
            ext.set("retryAfter", seconds);
        }
    })
}

/// An error raised outside any resolver (a bad token, a refused batch), in the same shape.
pub fn request_error(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })
}

/// `items[0].product_id` -> `items[0].productId`: the services name fields as REST does.
fn camel_case_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

fn error_chain(error: &Error) -> String {
    let mut out = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// `result.map_err(to_graphql)`, shorter.
pub trait OrGraphql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> OrGraphql<T> for Result<T, Error> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(to_graphql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_field_paths_become_graphql_argument_names() {
        assert_eq!(camel_case_path("card_token"), "cardToken");
        assert_eq!(
            camel_case_path("items[12].product_id"),
            "items[12].productId"
        );
        assert_eq!(camel_case_path("rating"), "rating");
    }
}
