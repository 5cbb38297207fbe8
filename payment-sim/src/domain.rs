//! Request bodies parsed into inputs that are valid by construction (`NewCharge`, `NewRefund`,
//! and the simulator's own fault `Settings`).
//! Fields are read one by one from the JSON object rather than through `serde::Deserialize`,
//! because a serde error does not say which field was wrong, and every 400 here must name its
//! `param`. Unknown fields are refused, as Stripe does: a typo in the app (`ammount`) should
//! fail loudly in a test, not be ignored.

use std::{collections::BTreeMap, time::Duration};

use serde_json::{Map, Value};

use crate::{
    error::{ApiError, Result},
    faults::{Knobs, Settings},
    tokens::Token,
};

/// A positive amount in minor units (cents).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Amount(i64);

impl Amount {
    pub(crate) fn parse(param: &str, value: &Value) -> Result<Amount> {
        let minor = value.as_i64().ok_or_else(|| {
            ApiError::invalid(
                "parameter_invalid_integer",
                Some(param),
                format!(
                    "`{param}` must be an integer number of minor units (e.g. 1999 for 19.99)."
                ),
            )
        })?;
        if minor <= 0 {
            return Err(ApiError::invalid(
                "amount_too_small",
                Some(param),
                format!("`{param}` must be greater than zero, got {minor}."),
            ));
        }
        Ok(Amount(minor))
    }

    pub(crate) fn get(self) -> i64 {
        self.0
    }
}

/// An ISO-4217-shaped currency code: exactly three ASCII capital letters. A teaching shortcut:
/// a real provider checks it against the currencies it supports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Currency(String);

impl Currency {
    pub(crate) fn parse(value: &Value) -> Result<Currency> {
        match value.as_str() {
            Some(code) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) => {
                Ok(Currency(code.to_owned()))
            }
            _ => Err(ApiError::invalid(
                "invalid_currency",
                Some("currency"),
                "`currency` must be three capital letters, e.g. \"EUR\" or \"USD\".",
            )),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A valid `POST /v1/charges` body.
#[derive(Clone, Debug)]
pub(crate) struct NewCharge {
    pub(crate) amount: Amount,
    pub(crate) currency: Currency,
    pub(crate) source: Token,
    pub(crate) description: Option<String>,
    pub(crate) metadata: BTreeMap<String, String>,
}

impl TryFrom<Value> for NewCharge {
    type Error = ApiError;

    fn try_from(body: Value) -> Result<NewCharge> {
        let mut fields = Fields::of(
            body,
            &["amount", "currency", "source", "description", "metadata"],
        )?;
        Ok(NewCharge {
            amount: Amount::parse("amount", &fields.required("amount")?)?,
            currency: Currency::parse(&fields.required("currency")?)?,
            source: parse_source(&fields.required("source")?)?,
            description: fields
                .optional("description")
                .map(|value| parse_description(&value))
                .transpose()?,
            metadata: fields
                .optional("metadata")
                .map(parse_metadata)
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

/// A valid `POST /v1/charges/{id}/refunds` body; no amount means "whatever remains".
#[derive(Clone, Copy, Debug)]
pub(crate) struct NewRefund {
    pub(crate) amount: Option<Amount>,
}

impl TryFrom<Value> for NewRefund {
    type Error = ApiError;

    fn try_from(body: Value) -> Result<NewRefund> {
        let mut fields = Fields::of(body, &["amount"])?;
        Ok(NewRefund {
            amount: fields
                .optional("amount")
                .map(|value| Amount::parse("amount", &value))
                .transpose()?,
        })
    }
}

/// A `PUT /sim/faults` body. A PUT replaces the whole resource, so an optional field left out
/// goes back to its default (no lost answers, no seed); `latency_ms` and `failure_rate` are
/// required, as they were before the other two existed. The types are checked here; whether
/// the rates are probabilities is `Settings::new`'s call, the same check the in-process
/// setters make.
pub(crate) fn parse_faults(body: Value) -> Result<Settings> {
    let mut fields = Fields::of(
        body,
        &["latency_ms", "failure_rate", "lose_answer_rate", "seed"],
    )?;
    let latency_ms = fields.required("latency_ms")?.as_u64().ok_or_else(|| {
        ApiError::invalid(
            "parameter_invalid_integer",
            Some("latency_ms"),
            "`latency_ms` must be a whole number of milliseconds, 0 or more.",
        )
    })?;
    let failure_rate = parse_rate("failure_rate", &fields.required("failure_rate")?)?;
    let lose_answer_rate = fields
        .optional("lose_answer_rate")
        .map(|value| parse_rate("lose_answer_rate", &value))
        .transpose()?
        .unwrap_or(0.0);
    let seed = fields
        .optional("seed")
        .map(|value| {
            value.as_u64().ok_or_else(|| {
                ApiError::invalid(
                    "parameter_invalid_integer",
                    Some("seed"),
                    "`seed` must be a whole number from 0 to 2^64-1, or null for no seed.",
                )
            })
        })
        .transpose()?;
    Settings::new(Knobs {
        latency: Duration::from_millis(latency_ms),
        failure_rate,
        lose_answer_rate,
        seed,
    })
    .map_err(|refused| {
        ApiError::invalid(
            "parameter_out_of_range",
            Some(refused.field),
            refused.message,
        )
    })
}

/// A number, for a rate; its range is `Settings::new`'s to check.
fn parse_rate(param: &str, value: &Value) -> Result<f64> {
    value.as_f64().ok_or_else(|| {
        ApiError::invalid(
            "parameter_invalid_number",
            Some(param),
            format!("`{param}` must be a number from 0 to 1."),
        )
    })
}

fn parse_source(value: &Value) -> Result<Token> {
    let source = value.as_str().ok_or_else(|| {
        ApiError::invalid(
            "parameter_invalid_string",
            Some("source"),
            "`source` must be a token string.",
        )
    })?;
    Token::parse(source).ok_or_else(|| {
        let known: Vec<_> = Token::ALL.iter().map(|token| token.as_str()).collect();
        ApiError::invalid(
            "resource_missing",
            Some("source"),
            format!(
                "No such token: '{source}'. This simulator knows {}.",
                known.join(", ")
            ),
        )
    })
}

fn parse_description(value: &Value) -> Result<String> {
    value.as_str().map(str::to_owned).ok_or_else(|| {
        ApiError::invalid(
            "parameter_invalid_string",
            Some("description"),
            "`description` must be a string.",
        )
    })
}

fn parse_metadata(value: Value) -> Result<BTreeMap<String, String>> {
    let invalid = || {
        ApiError::invalid(
            "parameter_invalid_metadata",
            Some("metadata"),
            "`metadata` must be an object whose values are strings.",
        )
    };
    let Value::Object(map) = value else {
        return Err(invalid());
    };
    map.into_iter()
        .map(|(key, value)| match value {
            Value::String(value) => Ok((key, value)),
            _ => Err(invalid()),
        })
        .collect()
}

/// The fields of a JSON object body, taken out one at a time. A JSON `null` counts as absent.
struct Fields(Map<String, Value>);

impl Fields {
    fn of(body: Value, allowed: &[&str]) -> Result<Fields> {
        let Value::Object(map) = body else {
            return Err(ApiError::invalid(
                "invalid_json",
                None,
                "The request body must be a JSON object.",
            ));
        };
        if let Some(unknown) = map.keys().find(|key| !allowed.contains(&key.as_str())) {
            return Err(ApiError::invalid(
                "parameter_unknown",
                Some(unknown),
                format!(
                    "Received unknown parameter: {unknown}. Allowed: {}.",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Fields(map))
    }

    fn optional(&mut self, name: &str) -> Option<Value> {
        self.0.remove(name).filter(|value| !value.is_null())
    }

    fn required(&mut self, name: &str) -> Result<Value> {
        self.optional(name).ok_or_else(|| {
            ApiError::invalid(
                "parameter_missing",
                Some(name),
                format!("Missing required param: {name}."),
            )
        })
    }
}
