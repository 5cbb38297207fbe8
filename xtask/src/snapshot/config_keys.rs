//! The configuration keys a crate reads, from its config structs' syntax trees: the fields of
//! `Config` (the one in `config`, else the crate's), where a field typed by another struct of
//! the crate is a section (`server.port`) wherever that struct is defined (`crate::rest::
//! RestConfig`, a `use`d name: see [`super::names`]), `#[serde(flatten)]` merges a local
//! struct's keys and skips a foreign one (an earlier step's `Config`, whose keys that step's
//! snapshot lists), `#[serde(skip)]` is no key, and a section typed by another crate's
//! `...Config` is shown whole, as `name.*`.

use syn::ext::IdentExt;

use super::modules::Module;
use super::names::{Names, segments};

/// How deep sections nest before we stop following: a guard against a struct that holds
/// itself (through a `Box`), far deeper than any config.
const MAX_DEPTH: usize = 8;

/// The keys of the crate's `Config`, in field order; none when it has no `Config`.
pub fn keys_of_crate(names: &Names) -> Vec<String> {
    let config = ["config".to_owned(), "Config".to_owned()];
    let root = names
        .find_struct(&[], &config)
        .or_else(|| names.struct_named("Config"));
    let mut keys = Vec::new();
    if let Some((module, def)) = root {
        collect_keys(names, &module, def, "", 0, &mut keys);
    }
    keys
}

/// The keys of the other configurations a crate's binaries load: every struct named
/// `...Config` (not `Config`) with an inherent `fn load`, as step 2's `ServiceConfig` is for
/// `step02-payments`.
pub fn keys_of_loaded_configs(names: &Names, modules: &[Module]) -> Vec<String> {
    let mut keys = Vec::new();
    for module in modules.iter().filter(|m| !m.test_only) {
        for item in &module.items {
            let syn::Item::Impl(block) = item else {
                continue;
            };
            let syn::Type::Path(ty) = &*block.self_ty else {
                continue;
            };
            let Some(last) = ty.path.segments.last() else {
                continue;
            };
            let name = last.ident.to_string();
            let loads = block
                .items
                .iter()
                .any(|item| matches!(item, syn::ImplItem::Fn(f) if f.sig.ident == "load"));
            if block.trait_.is_some() || !loads || name == "Config" || !name.ends_with("Config") {
                continue;
            }
            if let Some((at, def)) = names.struct_named(&name) {
                collect_keys(names, &at, def, "", 0, &mut keys);
            }
        }
    }
    keys
}

fn collect_keys(
    names: &Names,
    module: &[String],
    def: &syn::ItemStruct,
    prefix: &str,
    depth: usize,
    keys: &mut Vec<String>,
) {
    let syn::Fields::Named(fields) = &def.fields else {
        return;
    };
    if depth > MAX_DEPTH {
        return;
    }
    for field in &fields.named {
        let Some(ident) = &field.ident else { continue };
        let serde = |word: &str| serde_flag(&field.attrs, word);
        if serde("skip") || serde("skip_deserializing") {
            continue;
        }
        let key = format!("{prefix}{}", ident.unraw());
        let path = section_type(&field.ty).map(segments).unwrap_or_default();
        let section = names.find_struct(module, &path);
        let written = names.expand(module, &path);
        let last = written.last().map(String::as_str).unwrap_or_default();
        match section {
            Some((at, inner)) if serde("flatten") => {
                collect_keys(names, &at, inner, prefix, depth + 1, keys)
            }
            Some((at, inner)) => {
                collect_keys(names, &at, inner, &format!("{key}."), depth + 1, keys)
            }
            None if serde("flatten") => {}
            None if written.len() > 1 && last.ends_with("Config") => keys.push(format!("{key}.*")),
            None => keys.push(key),
        }
    }
}

/// The path of the type a field's section would be: the type itself, or what an `Option`,
/// `Box`, `Arc` or `Vec` holds.
fn section_type(ty: &syn::Type) -> Option<&syn::Path> {
    let path = type_path(ty)?;
    let last = path.segments.last()?;
    if matches!(
        last.ident.to_string().as_str(),
        "Option" | "Box" | "Arc" | "Vec"
    ) && let syn::PathArguments::AngleBracketed(args) = &last.arguments
        && let Some(inner) = args.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::Type(ty) => type_path(ty),
            _ => None,
        })
    {
        return Some(inner);
    }
    Some(path)
}

fn type_path(ty: &syn::Type) -> Option<&syn::Path> {
    match ty {
        syn::Type::Path(path) => Some(&path.path),
        syn::Type::Group(group) => type_path(&group.elem),
        syn::Type::Paren(paren) => type_path(&paren.elem),
        _ => None,
    }
}

/// `#[serde(..., word, ...)]` or `#[serde(word = ...)]`.
fn serde_flag(attrs: &[syn::Attribute], word: &str) -> bool {
    let mut found = false;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(word) {
                found = true;
            }
            // Skip a value (`= "..."`) or a list (`(...)`) without reading it.
            if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<syn::Expr>()?;
            } else if meta.input.peek(syn::token::Paren) {
                meta.parse_nested_meta(|_| Ok(()))?;
            }
            Ok(())
        });
    }
    found
}

/// `server.port` -> `APP__SERVER__PORT`.
pub fn env_name(key: &str) -> String {
    format!("APP__{}", key.replace('.', "__").to_ascii_uppercase())
}
