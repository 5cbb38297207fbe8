//! The test card tokens the simulator understands, and what each one does. A real provider
//! turns card details into a token in the browser; here the token *is* the scenario, so a test
//! picks an outcome by picking a token.

/// Charges with this source succeed (201, status `succeeded`).
pub const SUCCESS: &str = "tok_success";
/// Charges with this source are declined (402 `card_error`, code `card_declined`).
pub const DECLINE: &str = "tok_decline";
/// Charges with this source fail for lack of funds (402 `card_error`, code `insufficient_funds`).
pub const INSUFFICIENT_FUNDS: &str = "tok_insufficient_funds";

/// A known token, parsed from a request's `source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    Success,
    Decline,
    InsufficientFunds,
}

/// Why the simulated card network refused a charge: the `code` and `message` of the 402.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CardFailure {
    pub(crate) code: &'static str,
    pub(crate) message: &'static str,
}

impl Token {
    /// Every token, for error messages that tell the caller what would have worked.
    pub(crate) const ALL: [Token; 3] = [Token::Success, Token::Decline, Token::InsufficientFunds];

    pub(crate) fn parse(source: &str) -> Option<Token> {
        Token::ALL
            .into_iter()
            .find(|token| token.as_str() == source)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Token::Success => SUCCESS,
            Token::Decline => DECLINE,
            Token::InsufficientFunds => INSUFFICIENT_FUNDS,
        }
    }

    /// `None` when a charge with this token succeeds.
    pub(crate) fn failure(self) -> Option<CardFailure> {
        match self {
            Token::Success => None,
            Token::Decline => Some(CardFailure {
                code: "card_declined",
                message: "Your card was declined.",
            }),
            Token::InsufficientFunds => Some(CardFailure {
                code: "insufficient_funds",
                message: "Your card has insufficient funds.",
            }),
        }
    }
}
