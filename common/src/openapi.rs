//! What the OpenAPI document says about errors, in one place. Every error of every route has the one shape of [`crate::error`]; here that shape
//! becomes the `ErrorBody` schema, and each error status becomes one reusable response
//! component (`#/components/responses/NotFound`, ...) that handlers name in their
//! `#[utoipa::path(responses(...))]`, so a status is described once however many routes give it.
//!
//! A "not blank" rule (Rust's `trim()`) is documented as a pattern that needs one character
//! outside Rust's white space. Not `\S`: JSON Schema patterns are ECMAScript regexes, whose
//! white space differs from Rust's (U+0085 is white space only in Rust, U+FEFF only in
//! ECMAScript); schemathesis found a name of U+0085 that the document allowed and the code
//! refused.
//!
//! The text rules of `domain::text` are patterns too, so a client generated from the document
//! sends no control character the code refuses: a one-line field is
//! `^[^\u0000-\u001f\u007f-\u009f]*$` (combined with "not blank" where both hold), a
//! description or comment allows `\t`, `\n` and `\r` besides, a password refuses only NUL.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder, Type};

/// The name under which [`crate::error::ErrorBody`] sits in `components/schemas`.
pub const ERROR_SCHEMA: &str = "ErrorBody";

/// A response whose body is the error shape.
fn error_response(description: &str) -> ResponseBuilder {
    error_response_as(description, "application/json", ERROR_SCHEMA)
}

/// A response described by `description` whose body is the component schema `schema`, sent as
/// `content_type`: step 2's `/api/v2` tells the same errors as RFC 9457 problems, and reuses
/// these descriptions rather than rewording them.
pub fn error_response_as(description: &str, content_type: &str, schema: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        content_type,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(schema)))
            .build(),
    )
}

fn header(schema_type: Type, description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(utoipa::openapi::ObjectBuilder::new().schema_type(schema_type))
        .description(Some(description))
        .build()
}

/// What a 429 says, whatever the body's shape.
pub const TOO_MANY_REQUESTS: &str = "`RATE_LIMITED`: too many requests from this client; or \
     `TOO_MANY_ATTEMPTS`: too many failed sign-ins. Wait `Retry-After` seconds";

/// What a 503 says, whatever the body's shape.
pub const SERVICE_UNAVAILABLE: &str = "`SERVICE_UNAVAILABLE` (database), \
     `PAYMENT_PROVIDER_UNAVAILABLE`, `IDENTITY_PROVIDER_UNAVAILABLE`, or `TIMEOUT` (the work may \
     still complete: look before retrying). Nothing was half-written";

/// The headers a 429 carries: `Retry-After` (both codes), and the four fields step 2's rate
/// limiter writes on every `/api` response (draft-ietf-httpapi-ratelimit-headers-06).
pub fn with_rate_limit_headers(response: ResponseBuilder) -> ResponseBuilder {
    response
        .header(
            "Retry-After",
            header(Type::Integer, "seconds to wait before retrying"),
        )
        .header(
            "RateLimit-Limit",
            header(Type::Integer, "requests allowed per window"),
        )
        .header(
            "RateLimit-Remaining",
            header(Type::Integer, "requests left in this window"),
        )
        .header(
            "RateLimit-Reset",
            header(Type::Integer, "seconds until the next request may pass"),
        )
        .header(
            "RateLimit-Policy",
            header(
                Type::String,
                "the quota that applies, `<requests>;w=<window seconds>`, e.g. `600;w=60`",
            ),
        )
}

macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident = $build:expr;)*) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl<'s> utoipa::ToResponse<'s> for $name {
                fn response() -> (&'s str, RefOr<Response>) {
                    (stringify!($name), RefOr::T($build))
                }
            }
        )*

        /// Every error response component, to register under `components/responses`.
        pub fn error_responses() -> Vec<(String, RefOr<Response>)> {
            vec![$((stringify!($name).to_owned(), RefOr::T($build)),)*]
        }
    };
}

error_responses! {
    /// 400 for a body that is not JSON, or a path or query value that does not parse.
    BadRequest = error_response(
        "`MALFORMED_JSON`: the body is not JSON; or `INVALID_PARAMETER`: a path or query value \
         does not parse (`fields` names it)",
    ).build();
    /// 401: no valid bearer token (or, for sign-in routes, wrong credentials).
    Unauthorized = error_response(
        "`UNAUTHORIZED`: missing or invalid credentials (deliberately no detail)",
    ).build();
    /// 402: the payment provider declined the card.
    PaymentDeclined = error_response(
        "`PAYMENT_DECLINED`: the provider refused the card; `fields[0].reason` is its code",
    ).build();
    /// 403: signed in, but not allowed (an admin-only route, or an unverified Google email).
    Forbidden = error_response(
        "`FORBIDDEN`: signed in but not allowed (admin-only); `EMAIL_NOT_VERIFIED` for a \
         Google account whose email Google does not vouch for",
    ).build();
    /// 404: the addressed thing does not exist (or is not the caller's).
    NotFound = error_response("`NOT_FOUND`: the addressed resource does not exist").build();
    /// 409: the request conflicts with the current state.
    Conflict = error_response(
        "a conflict with the current state; `code` says which (`EMAIL_TAKEN`, `SKU_TAKEN`, \
         `OUT_OF_STOCK`, `INVALID_STATE`, `ALREADY_REVIEWED`)",
    ).build();
    /// 413: the body is over `server.body_limit_bytes`.
    PayloadTooLarge = error_response("`PAYLOAD_TOO_LARGE`: the body is over the limit").build();
    /// 415: a body route called without `Content-Type: application/json`.
    UnsupportedMediaType = error_response(
        "`UNSUPPORTED_MEDIA_TYPE`: the body must be sent as `application/json`",
    ).build();
    /// 422: JSON of the wrong shape, or values that break the rules.
    ValidationFailed = error_response(
        "`VALIDATION_FAILED`: the body parsed but its values break the rules; `fields` lists \
         each one (`items[0].quantity`) with the reason",
    ).build();
    /// 429: too many requests (rate limit) or too many failed sign-ins.
    TooManyRequests = with_rate_limit_headers(error_response(TOO_MANY_REQUESTS)).build();
    /// 503: a dependency is down, or the request ran past the server's timeout.
    ServiceUnavailable = error_response(SERVICE_UNAVAILABLE).build();
}

/// A product tag on the wire: a string of 1 to 50 characters. Only a schema (the field is a
/// `String`): utoipa has no attribute for the length of a list's items.
pub struct Tag;

impl utoipa::PartialSchema for Tag {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(50))
            // One line of text (`domain::text::line`): no control characters.
            .pattern(Some("^[^\\u0000-\\u001f\\u007f-\\u009f]*$"))
            .into()
    }
}

impl utoipa::ToSchema for Tag {}
