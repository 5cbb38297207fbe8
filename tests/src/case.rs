//! Where a suite runs ([`Target`]) and what it runs ([`Case`]). A case is a plain function
//! pointer, not a trait object, so suites are static lists that cost nothing to build and can
//! be filtered and counted without running anything. The [`cases!`](crate::cases) macro turns
//! `async fn` names into cases whose names are the function names, so a failing case's name is
//! exactly what `grep` finds.

use futures::future::BoxFuture;

/// The server under test. Cloned into every case, so cases share nothing but the server.
#[derive(Clone, Debug)]
pub struct Target {
    /// Scheme, host and port, no trailing slash: `http://127.0.0.1:8080`.
    pub base_url: String,
    /// An admin account the server was started with; suites cannot create admins themselves
    /// because register always makes customers.
    pub admin_email: String,
    pub admin_password: String,
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
