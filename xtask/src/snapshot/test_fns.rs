//! The test fns of a module: fns under an attribute whose path ends in `test` (`#[test]`,
//! `#[tokio::test(...)]`, `#[sqlx::test]`), named with their module path as nextest names them
//! (`config::tests::a_short_jwt_secret_is_refused`). Tests written inside an item macro
//! (`proptest! { #[test] fn ... }`) are not Rust syntax until the macro expands, so there the
//! macro's tokens are scanned for `#[...test] ... fn name`.

use proc_macro2::{TokenStream, TokenTree};

use super::modules::Module;

/// The tests of `module`, each as `module::path::fn_name`.
pub fn tests_in(module: &Module) -> Vec<String> {
    let mut names = Vec::new();
    for item in &module.items {
        match item {
            syn::Item::Fn(f) if f.attrs.iter().any(|a| is_test_path(a.path())) => {
                names.push(f.sig.ident.to_string());
            }
            syn::Item::Macro(mac) => names.extend(tests_in_tokens(mac.mac.tokens.clone())),
            _ => {}
        }
    }
    names
        .into_iter()
        .map(|name| {
            let mut path = module.path.clone();
            path.push(name);
            path.join("::")
        })
        .collect()
}

fn is_test_path(path: &syn::Path) -> bool {
    path.segments.last().is_some_and(|s| s.ident == "test")
}

/// `#[...test...] ... fn name` in a macro's tokens, at any depth.
fn tests_in_tokens(tokens: TokenStream) -> Vec<String> {
    let mut names = Vec::new();
    let mut pending = false;
    let mut tokens = tokens.into_iter().peekable();
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Punct(p) if p.as_char() == '#' => {
                if let Some(TokenTree::Group(attr)) = tokens.peek()
                    && attr.delimiter() == proc_macro2::Delimiter::Bracket
                {
                    let attr = attr.stream();
                    tokens.next();
                    if syn::parse2::<syn::Meta>(attr).is_ok_and(|meta| is_test_path(meta.path())) {
                        pending = true;
                    }
                }
            }
            TokenTree::Ident(word) if word == "fn" => {
                if pending && let Some(TokenTree::Ident(name)) = tokens.peek() {
                    names.push(name.to_string());
                }
                pending = false;
            }
            TokenTree::Group(group) => names.extend(tests_in_tokens(group.stream())),
            _ => {}
        }
    }
    names
}
