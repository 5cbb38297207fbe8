//! The internal service token, as two tonic interceptors: [`AttachToken`] on the app's side
//! puts `authorization: Bearer <token>` on every call, [`RequireToken`] on the service's side
//! answers UNAUTHENTICATED to any call without the right one. The service is internal, but
//! "internal" is not a security boundary: anything that can reach the port could otherwise
//! charge cards. (A production system would add mTLS, or a mesh that does it; see step 10.)

use secrecy::{ExposeSecret, SecretString};
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Client side: adds the token to every outgoing call.
#[derive(Clone)]
pub struct AttachToken {
    /// Parsed once: a token that is not a valid header value is a configuration error, caught
    /// at startup by `AttachToken::new` rather than on the first payment.
    header: AsciiMetadataValue,
}

impl AttachToken {
    pub fn new(token: &SecretString) -> anyhow::Result<Self> {
        let mut header: AsciiMetadataValue = format!("Bearer {}", token.expose_secret())
            .parse()
            .map_err(|_| anyhow::anyhow!("the payments service token is not a valid header"))?;
        header.set_sensitive(true);
        Ok(Self { header })
    }
}

impl Interceptor for AttachToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.header.clone());
        Ok(request)
    }
}

/// Server side: lets a call through only with the expected token.
#[derive(Clone)]
pub struct RequireToken {
    expected: SecretString,
}

impl RequireToken {
    pub fn new(expected: SecretString) -> Self {
        Self { expected }
    }
}

impl Interceptor for RequireToken {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        match bearer(request.metadata()) {
            None => Err(Status::unauthenticated(
                "no service token: send `authorization: Bearer <token>`",
            )),
            Some(token) if constant_time_eq(token, self.expected.expose_secret()) => Ok(request),
            Some(_) => Err(Status::unauthenticated("wrong service token")),
        }
    }
}

/// The token of `authorization: Bearer <token>` (scheme case-insensitive, RFC 7235).
fn bearer(metadata: &MetadataMap) -> Option<&str> {
    let value = metadata.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Takes the same time wherever the first difference is, so response times do not leak how
/// much of a guessed token was right. Lengths may differ in time: they are not secret.
fn constant_time_eq(candidate: &str, expected: &str) -> bool {
    candidate.len() == expected.len()
        && candidate
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "a-service-token-that-is-long-enough-xx";

    fn call_with(header: Option<&str>) -> Result<Request<()>, Status> {
        let mut request = Request::new(());
        if let Some(header) = header {
            request
                .metadata_mut()
                .insert("authorization", header.parse().unwrap());
        }
        RequireToken::new(SecretString::from(TOKEN)).call(request)
    }

    #[test]
    fn the_right_token_passes_and_anything_else_is_unauthenticated() {
        assert!(call_with(Some(&format!("Bearer {TOKEN}"))).is_ok());
        assert!(call_with(Some(&format!("bearer {TOKEN}"))).is_ok());
        for header in [
            None,
            Some("Bearer"),
            Some("Bearer "),
            Some("Basic abc"),
            Some(&*format!("Bearer {TOKEN}x")),
            Some(&*format!("Bearer {}", &TOKEN[1..])),
        ] {
            let status = call_with(header).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{header:?}");
            assert!(!status.message().contains(TOKEN));
        }
    }

    #[test]
    fn the_client_interceptor_sends_what_the_server_interceptor_accepts() {
        let request = AttachToken::new(&SecretString::from(TOKEN))
            .unwrap()
            .call(Request::new(()))
            .unwrap();
        assert!(
            RequireToken::new(SecretString::from(TOKEN))
                .call(request)
                .is_ok()
        );
    }
}
