//! Trace context: the W3C `traceparent` header (`00-<trace id>-<parent id>-<flags>`, lowercase
//! hex) parsed into a [`TraceContext`], and the context of the work in hand kept in a tokio
//! task-local ([`scope`], [`current`]) beside the request id, so code far from the request
//! (the gRPC client, the outbox writer) can pass both on without every signature carrying
//! them. One order can then be followed by one trace id through the API's logs, the payments
//! service's and the event consumers'. Only the identifiers travel: the shop logs them and
//! exports no spans (a collector such as OpenTelemetry's would take the same header).
//!
//! A task-local does not follow `tokio::spawn`: work moved to a task of its own is wrapped in
//! [`propagate`], which carries the context over.

use std::fmt;
use std::future::Future;

/// The `traceparent` header's name (request, response and gRPC metadata).
pub const TRACEPARENT: &str = "traceparent";

/// One W3C trace context, version `00`: the trace every hop shares, the id of the span that
/// sent it (or, once [`TraceContext::child`]ed, this hop's own span), and the flags (bit 0:
/// sampled).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

/// Why a `traceparent` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceparentError {
    #[error("a traceparent has four fields separated by '-'")]
    Shape,
    #[error("the version is two lowercase hex digits and not ff")]
    Version,
    #[error("the trace id is 32 lowercase hex digits, not all zero")]
    TraceId,
    #[error("the parent id is 16 lowercase hex digits, not all zero")]
    ParentId,
    #[error("the flags are two lowercase hex digits")]
    Flags,
}

impl TraceContext {
    /// A new trace (sampled), with this hop as its first span.
    pub fn new_root() -> Self {
        Self {
            trace_id: nonzero(),
            span_id: nonzero(),
            flags: 0x01,
        }
    }

    /// Parses a `traceparent` value. Version `00` is read exactly (55 characters); a later
    /// version is read by its first four fields, as the specification asks of a version-00
    /// reader, when what follows them starts with '-'. Version `ff`, all-zero ids, uppercase
    /// hex and wrong lengths are refused: a caller then starts a trace of its own.
    pub fn parse(value: &str) -> Result<Self, TraceparentError> {
        let value = value.trim_matches([' ', '\t']);
        let mut fields = value.splitn(4, '-');
        let (Some(version), Some(trace_id), Some(span_id), Some(rest)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(TraceparentError::Shape);
        };
        let version = hex::<1>(version).ok_or(TraceparentError::Version)?[0];
        if version == 0xff {
            return Err(TraceparentError::Version);
        }
        let flags = match (version, rest.split_at_checked(2)) {
            (0x00, _) if rest.len() != 2 => return Err(TraceparentError::Flags),
            (_, Some((flags, tail))) if tail.is_empty() || tail.starts_with('-') => flags,
            _ => return Err(TraceparentError::Flags),
        };
        let trace_id = hex::<16>(trace_id)
            .filter(|id| id.iter().any(|b| *b != 0))
            .ok_or(TraceparentError::TraceId)?;
        let span_id = hex::<8>(span_id)
            .filter(|id| id.iter().any(|b| *b != 0))
            .ok_or(TraceparentError::ParentId)?;
        let flags = hex::<1>(flags).ok_or(TraceparentError::Flags)?[0];
        Ok(Self {
            trace_id,
            span_id,
            flags,
        })
    }

    /// The same trace, one hop further: a new span id, the same flags.
    pub fn child(&self) -> Self {
        Self {
            span_id: nonzero(),
            ..*self
        }
    }

    /// The trace id, as 32 lowercase hex digits (what the logs carry as `trace_id`).
    pub fn trace_id(&self) -> String {
        to_hex(&self.trace_id)
    }

    /// This hop's span id, as 16 lowercase hex digits.
    pub fn span_id(&self) -> String {
        to_hex(&self.span_id)
    }

    pub fn sampled(&self) -> bool {
        self.flags & 0x01 == 0x01
    }
}

/// `00-<trace id>-<span id>-<flags>`: the header value a next hop parses.
impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id(),
            self.span_id(),
            self.flags
        )
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceContext({self})")
    }
}

impl std::str::FromStr for TraceContext {
    type Err = TraceparentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A fresh request id, for a hop that starts a request without one (the same shape as the
/// one `x-request-id` gets in [`crate::startup::with_layers`]: a UUID).
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What the task-local holds: the context and the request it belongs to.
#[derive(Clone)]
struct Current {
    context: TraceContext,
    request_id: Option<String>,
}

tokio::task_local! {
    static CURRENT: Current;
}

/// Runs `fut` with `context` as the current trace context (and no request id).
pub async fn scope<F: Future>(context: TraceContext, fut: F) -> F::Output {
    scope_request(context, None, fut).await
}

/// Runs `fut` with `context` as the current trace context and `request_id` as its request.
pub async fn scope_request<F: Future>(
    context: TraceContext,
    request_id: Option<String>,
    fut: F,
) -> F::Output {
    CURRENT
        .scope(
            Current {
                context,
                request_id,
            },
            fut,
        )
        .await
}

/// The trace context of the work in hand, if it runs inside a [`scope`].
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(|c| c.context).ok()
}

/// The request id of the work in hand, if it runs inside a [`scope_request`] that had one.
pub fn current_request_id() -> Option<String> {
    CURRENT.try_with(|c| c.request_id.clone()).ok().flatten()
}

/// `fut`, carrying the current context (if any) along: for work handed to `tokio::spawn`,
/// where the task-local would otherwise be lost.
pub fn propagate<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    let current = CURRENT.try_with(Current::clone).ok();
    async move {
        match current {
            Some(current) => CURRENT.scope(current, fut).await,
            None => fut.await,
        }
    }
}

/// Random bytes, not all zero (an all-zero id is invalid): one draw in 2^64 repeats.
fn nonzero<const N: usize>() -> [u8; N] {
    loop {
        let bytes: [u8; N] = std::array::from_fn(|_| rand::random());
        if bytes.iter().any(|b| *b != 0) {
            return bytes;
        }
    }
}

/// Exactly `2 * N` lowercase hex digits (the specification refuses uppercase).
fn hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0; N];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// Lowercase hex, two digits a byte, in one allocation: every request formats its ids
/// several times (the answer's header, the log line, the span), so this is on the hot path.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_is_read_and_written_back_unchanged() {
        let context = TraceContext::parse(VALID).unwrap();
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.span_id(), "00f067aa0ba902b7");
        assert!(context.sampled());
        assert_eq!(context.to_string(), VALID);
        let unsampled = TraceContext::parse(&VALID.replace("-01", "-00")).unwrap();
        assert!(!unsampled.sampled());
    }

    #[test]
    fn a_later_version_is_read_by_its_first_four_fields() {
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        let context = TraceContext::parse(later).unwrap();
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        // Written back as the version this code speaks.
        assert_eq!(context.to_string(), VALID);
        // Version 00 has exactly four fields.
        assert_eq!(
            TraceContext::parse(&format!("{VALID}-extra")),
            Err(TraceparentError::Flags)
        );
    }

    #[test]
    fn version_ff_is_refused() {
        assert_eq!(
            TraceContext::parse(&VALID.replacen("00", "ff", 1)),
            Err(TraceparentError::Version)
        );
    }

    #[test]
    fn all_zero_ids_are_refused() {
        assert_eq!(
            TraceContext::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            Err(TraceparentError::TraceId)
        );
        assert_eq!(
            TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
            Err(TraceparentError::ParentId)
        );
    }

    #[test]
    fn fields_of_the_wrong_length_are_refused() {
        for (bad, why) in [
            ("", TraceparentError::Shape),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                TraceparentError::Shape,
            ),
            (
                "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                TraceparentError::Version,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
                TraceparentError::TraceId,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",
                TraceparentError::TraceId,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
                TraceparentError::ParentId,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
                TraceparentError::Flags,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-001",
                TraceparentError::Flags,
            ),
        ] {
            assert_eq!(TraceContext::parse(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn uppercase_hex_and_other_characters_are_refused() {
        assert_eq!(
            TraceContext::parse(&VALID.to_uppercase()),
            Err(TraceparentError::TraceId)
        );
        assert_eq!(
            TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"),
            Err(TraceparentError::ParentId)
        );
        assert_eq!(
            TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"),
            Err(TraceparentError::Flags)
        );
        assert_eq!(
            TraceContext::parse("0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Err(TraceparentError::Version)
        );
    }

    #[test]
    fn a_child_keeps_the_trace_and_flags_and_gets_a_span_of_its_own() {
        let parent = TraceContext::parse(VALID).unwrap();
        let child = parent.child();
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_eq!(child.sampled(), parent.sampled());
        assert_ne!(child.span_id(), parent.span_id());
        assert_eq!(TraceContext::parse(&child.to_string()), Ok(child));
    }

    #[test]
    fn new_roots_are_valid_and_distinct() {
        let (a, b) = (TraceContext::new_root(), TraceContext::new_root());
        assert_ne!(a.trace_id(), b.trace_id());
        assert_eq!(TraceContext::parse(&a.to_string()), Ok(a));
        assert!(a.sampled());
    }

    #[tokio::test]
    async fn the_current_context_is_seen_inside_its_scope_and_across_a_propagated_spawn() {
        assert_eq!(current(), None);
        let context = TraceContext::parse(VALID).unwrap();
        let request = Some("req-1".to_owned());
        let (inside, spawned, bare) = scope_request(context, request, async {
            let spawned = tokio::spawn(propagate(async { (current(), current_request_id()) }));
            let bare = tokio::spawn(async { current() });
            (current(), spawned.await.unwrap(), bare.await.unwrap())
        })
        .await;
        assert_eq!(inside, Some(context));
        assert_eq!(spawned, (Some(context), Some("req-1".to_owned())));
        assert_eq!(bare, None);
        assert_eq!(current(), None);
    }
}
