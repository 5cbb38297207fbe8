//! Where a suite runs ([`Target`], and the [`Provider`] behind it) and what it runs
//! ([`Case`]). A case is a plain function pointer, not a trait object, so suites are static
//! lists that cost nothing to build and can be filtered and counted without running anything.
//! The [`cases!`](crate::cases) macro turns `async fn` names into cases whose names are the
//! function names, so a failing case's name is exactly what `grep` finds.

use std::time::Duration;

use futures::future::BoxFuture;

/// The server under test. Cloned into every case, so cases share nothing but the server (and,
/// for the suites that use it, the server's payment provider).
#[derive(Clone, Debug)]
pub struct Target {
    /// Scheme, host and port, no trailing slash: `http://127.0.0.1:8080`.
    pub base_url: String,
    /// An admin account the server was started with; suites cannot create admins themselves
    /// because register always makes customers.
    pub admin_email: String,
    pub admin_password: String,
    /// The payment provider the server charges, for the suites that make it slow or down and
    /// read what it charged (`ordering00`). `None` when whoever runs the suites did not say
    /// where it is; those suites then fail, saying so, rather than pass without checking.
    pub provider: Option<Provider>,
}

/// The payment provider behind a [`Target`]: the provider simulator (`payment-sim`) the server
/// was configured with, reached over its own HTTP API (`/v1/charges` to read what was charged,
/// `/sim/faults` to make it slow or down), exactly as the server reaches it.
#[derive(Clone, Debug)]
pub struct Provider {
    /// Scheme, host and port, no trailing slash: `http://127.0.0.1:4242`.
    pub base_url: String,
    /// The simulator's API key (the one the server was configured with).
    pub api_key: String,
    /// How long the server waits for the provider before it answers 503: a provider slower
    /// than this is, to the server, down. A case needs it to be slow enough and no slower.
    pub payment_timeout: Duration,
}

impl Target {
    pub fn new(
        base_url: impl Into<String>,
        admin_email: impl Into<String>,
        admin_password: impl Into<String>,
    ) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            admin_email: admin_email.into(),
            admin_password: admin_password.into(),
            provider: None,
        }
    }

    /// The same target, with the payment provider its server charges.
    pub fn with_provider(self, provider: Provider) -> Self {
        Self {
            provider: Some(provider),
            ..self
        }
    }
}

impl Provider {
    pub fn new(
        base_url: impl Into<String>,
        api_key: impl Into<String>,
        payment_timeout: Duration,
    ) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_key: api_key.into(),
            payment_timeout,
        }
    }
}

/// What a case returns: `Ok(())` when the server kept the contract, an error saying what was
/// expected and what came back when it did not.
pub type CaseFuture = BoxFuture<'static, anyhow::Result<()>>;

/// One named, independent check.
#[derive(Clone, Copy)]
pub struct Case {
    /// A sentence: `login_with_a_wrong_password_is_401_with_the_same_message_as_an_unknown_email`.
    pub name: &'static str,
    pub run: fn(Target) -> CaseFuture,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("name", &self.name).finish()
    }
}

/// `cases![a, b]` is `vec![Case { name: "a", run: |t| Box::pin(a(t)) }, ...]` for
/// `async fn a(t: Target) -> anyhow::Result<()>`.
#[macro_export]
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        vec![$($crate::Case {
            name: stringify!($case),
            run: |target| ::std::boxed::Box::pin($case(target)),
        }),*]
    };
}

/// Every case of a suite's families, in order: what a hostile suite's `cases()` is when its
/// `families()` (for the reports that count them) is the one list.
pub fn all_of(families: Vec<(&'static str, Vec<Case>)>) -> Vec<Case> {
    families.into_iter().flat_map(|(_, cases)| cases).collect()
}
