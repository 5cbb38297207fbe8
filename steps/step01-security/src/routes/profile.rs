//! `/profile`: the signed-in user's phone number, shipping addresses and saved payment-method
//! reference. Read and replaced whole; stored encrypted (see [`crate::profiles`]).

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use common::auth::AuthUser;
use common::extract::Json;
use common::routes::rules;
use garde::Validate;
use serde::Deserialize;

use crate::error::Result;
use crate::profiles::{Address, Profile, Profiles};
use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/profile", get(get_profile).put(update_profile))
}

/// `+49 151 1234-5678`, `(030) 1234567`: 7 to 15 digits once spaces, dashes, dots and
/// parentheses are dropped, optionally after one leading `+`.
pub fn parse_phone(raw: &str) -> std::result::Result<String, String> {
    let trimmed = raw.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", trimmed),
    };
    let digits: String = rest
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    if (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(format!("{plus}{digits}"))
    } else {
        Err("must be a phone number of 7 to 15 digits, optionally starting with +".to_owned())
    }
}

fn phone_rule(value: &Option<String>, _: &()) -> garde::Result {
    match value {
        Some(phone) => parse_phone(phone).map(drop).map_err(garde::Error::new),
        None => Ok(()),
    }
}

fn payment_method_rule(value: &Option<String>, _: &()) -> garde::Result {
    match value {
        Some(reference)
            if reference.is_empty()
                || reference.len() > 100
                || !reference
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            Err(garde::Error::new(
                "must be the provider's reference: 1 to 100 of A-Z a-z 0-9 _ -",
            ))
        }
        _ => Ok(()),
    }
}

fn country_rule(value: &str, _: &()) -> garde::Result {
    if value.len() == 2 && value.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(())
    } else {
        Err(garde::Error::new("must be a two-letter country code"))
    }
}

fn optional_line(value: &Option<String>, context: &()) -> garde::Result {
    match value {
        Some(line) if line.chars().count() > 200 => {
            Err(garde::Error::new("must be at most 200 characters"))
        }
        _ => rules::optional_line(value, context),
    }
}

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct AddressRequest {
    #[garde(
        length(chars, min = 1, max = 100),
        custom(rules::not_blank),
        custom(rules::line)
    )]
    #[schema(
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    #[garde(
        length(chars, min = 1, max = 200),
        custom(rules::not_blank),
        custom(rules::line)
    )]
    #[schema(
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub line1: String,
    #[garde(custom(optional_line))]
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub line2: Option<String>,
    #[garde(
        length(chars, min = 1, max = 100),
        custom(rules::not_blank),
        custom(rules::line)
    )]
    #[schema(
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub city: String,
    #[garde(
        length(chars, min = 1, max = 20),
        custom(rules::not_blank),
        custom(rules::line)
    )]
    #[schema(
        max_length = 20,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2; stored upper-case.
    #[garde(custom(country_rule))]
    #[schema(pattern = "^[A-Za-z]{2}$", example = "DE")]
    pub country: String,
}

/// The whole profile; an omitted field is cleared.
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct ProfileRequest {
    /// 7 to 15 digits, optionally after a `+`; spaces, dashes, dots and parentheses are
    /// allowed between them and dropped.
    #[garde(custom(phone_rule))]
    #[schema(
        pattern = "^\\s*\\+?[ ().-]*(?:[0-9][ ().-]*){7,15}\\s*$",
        example = "+49 151 1234-5678"
    )]
    pub phone: Option<String>,
    #[serde(default)]
    #[garde(length(max = 5), dive)]
    #[schema(max_items = 5)]
    pub shipping_addresses: Vec<AddressRequest>,
    /// The payment provider's reference to a saved card.
    #[garde(custom(payment_method_rule))]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,100}$", example = "pm_card_visa")]
    pub payment_method: Option<String>,
}

impl ProfileRequest {
    pub fn parse(self) -> Result<Profile> {
        self.validate()?;
        let trim = |s: String| s.trim().to_owned();
        Ok(Profile {
            phone: self
                .phone
                .as_deref()
                .map(parse_phone)
                .transpose()
                .ok()
                .flatten(),
            shipping_addresses: self
                .shipping_addresses
                .into_iter()
                .map(|a| Address {
                    name: trim(a.name),
                    line1: trim(a.line1),
                    line2: a.line2.map(trim).filter(|l| !l.is_empty()),
                    city: trim(a.city),
                    postal_code: trim(a.postal_code),
                    country: a.country.to_ascii_uppercase(),
                })
                .collect(),
            payment_method: self.payment_method,
        })
    }
}

#[utoipa::path(
        get,
        path = "/api/v1/profile",
        tag = "profile",
        security(("bearer" = [])),
        responses(
            (status = 200, description = "the caller's profile (empty if never set)", body = Profile),
            (status = 401, response = common::openapi::Unauthorized),
        )
    )]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn get_profile(
    State(profiles): State<Profiles>,
    user: AuthUser,
) -> Result<Json<Profile>> {
    Ok(Json(profiles.get(user.id).await?))
}

#[utoipa::path(
        put,
        path = "/api/v1/profile",
        tag = "profile",
        security(("bearer" = [])),
        request_body = ProfileRequest,
        responses(
            (status = 200, description = "replaced whole; an omitted field is cleared", body = Profile),
            (status = 400, response = common::openapi::BadRequest),
            (status = 401, response = common::openapi::Unauthorized),
            (status = 413, response = common::openapi::PayloadTooLarge),
            (status = 415, response = common::openapi::UnsupportedMediaType),
            (status = 422, response = common::openapi::ValidationFailed),
        )
    )]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn update_profile(
    State(profiles): State<Profiles>,
    user: AuthUser,
    Json(request): Json<ProfileRequest>,
) -> Result<Json<Profile>> {
    let profile = request.parse()?;
    Ok(Json(profiles.put(user.id, profile).await?))
}
