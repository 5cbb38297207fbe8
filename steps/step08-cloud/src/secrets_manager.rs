//! A reader of one AWS Secrets Manager secret whose `SecretString` is a JSON object of
//! configuration keys and values (`{"auth.jwt_secret": "...", "postgres.url": "..."}`), for
//! the configuration to read at start. One call, `GetSecretValue`, over HTTPS with reqwest and
//! signed with SigV4 by the `aws-sigv4` crate: the AWS SDK would build a hundred crates for
//! it. Credentials and region come from the standard variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` or `AWS_DEFAULT_REGION`); the
//! endpoint can be another than AWS's (an emulator such as moto).
//!
//! Every failure says which secret and what to do: not found, access denied, a value that is
//! not a JSON object of strings, an endpoint that does not answer.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

/// How long one call may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Which secret, where.
#[derive(Debug, Clone)]
pub struct SecretsManagerSettings {
    /// The secret's name or ARN.
    pub secret_id: String,
    /// Unset: `AWS_REGION`, then `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// Unset: `https://secretsmanager.{region}.amazonaws.com`.
    pub endpoint: Option<String>,
}

/// The credentials and region of the standard AWS variables.
#[derive(Debug, Clone)]
pub struct AwsEnvironment {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    pub session_token: Option<SecretString>,
    pub region: Option<String>,
}

impl AwsEnvironment {
    /// From this process's environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `lookup` (a variable's value by name); empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        Self {
            access_key_id: get("AWS_ACCESS_KEY_ID"),
            secret_access_key: get("AWS_SECRET_ACCESS_KEY").map(SecretString::from),
            session_token: get("AWS_SESSION_TOKEN").map(SecretString::from),
            region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
        }
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "reading the secret {secret:?} needs AWS credentials: set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones)"
    )]
    NoCredentials { secret: String },
    #[error(
        "reading the secret {secret:?} needs a region: set secrets.aws_region, AWS_REGION or \
         AWS_DEFAULT_REGION"
    )]
    NoRegion { secret: String },
    #[error("the secret {secret:?} does not exist in {region} ({message})")]
    NotFound {
        secret: String,
        region: String,
        message: String,
    },
    #[error(
        "access to the secret {secret:?} was denied ({code}: {message}); check the \
         credentials and that their policy allows secretsmanager:GetSecretValue on it"
    )]
    AccessDenied {
        secret: String,
        code: String,
        message: String,
    },
    #[error(
        "the secret {secret:?} must hold a JSON object of configuration keys to string \
         values, like {{\"auth.jwt_secret\": \"...\"}}: {reason}"
    )]
    NotAnObjectOfStrings { secret: String, reason: String },
    #[error("Secrets Manager at {endpoint} did not answer for the secret {secret:?}")]
    Unreachable {
        secret: String,
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "Secrets Manager refused to read the secret {secret:?}: HTTP {status}, {code}: {message}"
    )]
    Refused {
        secret: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("signing the request for the secret {secret:?}: {reason}")]
    Signing { secret: String, reason: String },
}

/// The configuration keys and values in the secret `settings` names, with credentials and
/// region from the environment.
pub async fn fetch(settings: &SecretsManagerSettings) -> anyhow::Result<BTreeMap<String, String>> {
    Ok(fetch_with(settings, &AwsEnvironment::from_env()).await?)
}

/// [`fetch`] with the credentials and region of `aws`.
pub async fn fetch_with(
    settings: &SecretsManagerSettings,
    aws: &AwsEnvironment,
) -> Result<BTreeMap<String, String>, SecretsError> {
    let client = Client::new(settings, aws)?;
    let secret = settings.secret_id.clone();
    let reply = client
        .call("GetSecretValue", &json!({ "SecretId": settings.secret_id }))
        .await?;
    let Some(text) = reply.get("SecretString").and_then(Value::as_str) else {
        return Err(SecretsError::NotAnObjectOfStrings {
            secret,
            reason: "it has no SecretString (a binary secret?)".to_owned(),
        });
    };
    parse_values(&secret, text)
}

/// A JSON object of strings, each key and value as it is.
fn parse_values(secret: &str, text: &str) -> Result<BTreeMap<String, String>, SecretsError> {
    let invalid = |reason: String| SecretsError::NotAnObjectOfStrings {
        secret: secret.to_owned(),
        reason,
    };
    let value: Value =
        serde_json::from_str(text).map_err(|e| invalid(format!("it is not JSON ({e})")))?;
    let Value::Object(object) = value else {
        return Err(invalid(format!("it is {}", kind(&value))));
    };
    object
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(text) => Ok((key, text)),
            other => Err(invalid(format!(
                "`{key}` is {}, not a string",
                kind(&other)
            ))),
        })
        .collect()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A signed JSON client of Secrets Manager's API (`X-Amz-Target: secretsmanager.{action}`).
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    credentials: Credentials,
    secret: String,
}

impl Client {
    pub fn new(
        settings: &SecretsManagerSettings,
        aws: &AwsEnvironment,
    ) -> Result<Self, SecretsError> {
        let secret = settings.secret_id.clone();
        let region = settings
            .region
            .clone()
            .or_else(|| aws.region.clone())
            .ok_or_else(|| SecretsError::NoRegion {
                secret: secret.clone(),
            })?;
        let (Some(key_id), Some(key)) = (&aws.access_key_id, &aws.secret_access_key) else {
            return Err(SecretsError::NoCredentials { secret });
        };
        let credentials = Credentials::new(
            key_id,
            key.expose_secret(),
            aws.session_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            None,
            "environment",
        );
        let endpoint = settings
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://secretsmanager.{region}.amazonaws.com"))
            .trim_end_matches('/')
            .to_owned();
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| SecretsError::Signing {
                secret: secret.clone(),
                reason: format!("building the HTTP client: {e}"),
            })?;
        Ok(Self {
            http,
            endpoint,
            region,
            credentials,
            secret,
        })
    }

    /// Calls `action` with `body`; its JSON answer, or the error it answered.
    pub async fn call(&self, action: &str, body: &Value) -> Result<Value, SecretsError> {
        let secret = || self.secret.clone();
        let signing = |reason: String| SecretsError::Signing {
            secret: secret(),
            reason,
        };
        let url = format!("{}/", self.endpoint);
        let parsed =
            reqwest::Url::parse(&url).map_err(|e| signing(format!("the endpoint {url:?}: {e}")))?;
        let host = match (parsed.host_str(), parsed.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(signing(format!("the endpoint {url:?} has no host"))),
        };
        let payload = serde_json::to_vec(body).map_err(|e| signing(e.to_string()))?;
        let target = format!("secretsmanager.{action}");
        let headers = [
            ("host", host.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("secretsmanager")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| signing(e.to_string()))?
            .into();
        let request = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(&payload),
        )
        .map_err(|e| signing(e.to_string()))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| signing(e.to_string()))?
            .into_parts();
        let mut builder = self.http.post(&url);
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            if name != "host" {
                builder = builder.header(name, value);
            }
        }
        let unreachable = |source| SecretsError::Unreachable {
            secret: secret(),
            endpoint: self.endpoint.clone(),
            source,
        };
        let response = builder.body(payload).send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        let reply: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(reply);
        }
        // `__type` is `ResourceNotFoundException`, or the same after a `namespace#`.
        let code = reply["__type"]
            .as_str()
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        let message = reply["message"]
            .as_str()
            .or_else(|| reply["Message"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| text.chars().take(200).collect());
        Err(match code.as_str() {
            "ResourceNotFoundException" => SecretsError::NotFound {
                secret: secret(),
                region: self.region.clone(),
                message,
            },
            "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "IncompleteSignature"
            | "ExpiredTokenException" => SecretsError::AccessDenied {
                secret: secret(),
                code,
                message,
            },
            _ if status.as_u16() == 403 => SecretsError::AccessDenied {
                secret: secret(),
                code,
                message,
            },
            _ => SecretsError::Refused {
                secret: secret(),
                status: status.as_u16(),
                code,
                message,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_must_be_a_json_object_of_strings_and_the_error_names_the_offending_key() {
        let values = parse_values("s", r#"{"auth.jwt_secret":"x","postgres.url":"y"}"#)
            .expect("an object of strings");
        assert_eq!(values["auth.jwt_secret"], "x");
        for (text, says) in [
            ("not json", "not JSON"),
            ("[1]", "an array"),
            (r#"{"server.port": 8080}"#, "`server.port` is a number"),
        ] {
            let error = parse_values("s", text).expect_err(text).to_string();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn credentials_and_region_come_from_the_standard_variables_and_empty_ones_count_as_unset() {
        let vars = [
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", ""),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
        ];
        let aws = AwsEnvironment::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        });
        assert_eq!(aws.access_key_id.as_deref(), Some("AKIDEXAMPLE"));
        assert!(aws.session_token.is_none());
        assert_eq!(aws.region.as_deref(), Some("eu-west-1"));
        let settings = SecretsManagerSettings {
            secret_id: "shop/prod".to_owned(),
            region: None,
            endpoint: None,
        };
        let none = AwsEnvironment::from_lookup(|_| None);
        assert!(matches!(
            Client::new(&settings, &none),
            Err(SecretsError::NoRegion { .. })
        ));
        let region_only = AwsEnvironment {
            region: Some("eu-west-1".to_owned()),
            ..none
        };
        let error = Client::new(&settings, &region_only)
            .err()
            .expect("no credentials");
        assert!(error.to_string().contains("AWS_ACCESS_KEY_ID"), "{error}");
    }
}
