//! The configuration keys a crate reads, from its config structs' syntax trees: the fields of
//! `Config`, where a field typed by another struct of the crate is a section (`server.port`),
//! `#[serde(flatten)]` merges a local struct's keys and skips a foreign one (an earlier step's
//! `Config`, whose keys that step's snapshot lists), `#[serde(skip)]` is no key, and a section
//! typed by another crate's `...Config` is shown whole, as `name.*`.

use syn::ext::IdentExt;

use super::modules::Module;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// The type's path, generics left out: `common::Config`, `Option`.
    pub ty: Vec<String>,
    /// The path of the first generic argument: `Option<TlsConfig>` -> `TlsConfig`.
    pub inner: Vec<String>,
    pub flatten: bool,
    pub skip: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructDef {
    pub name: String,
    pub fields: Vec<Field>,
}

/// Every struct with named fields in the given modules.
pub fn structs_in<'a>(modules: impl IntoIterator<Item = &'a Module>) -> Vec<StructDef> {
    let mut structs = Vec::new();
    for module in modules {
        for item in &module.items {
            if let syn::Item::Struct(def) = item
                && let syn::Fields::Named(named) = &def.fields
            {
                structs.push(StructDef {
                    name: def.ident.unraw().to_string(),
                    fields: named.named.iter().filter_map(field).collect(),
                });
            }
        }
    }
    structs
}

fn field(field: &syn::Field) -> Option<Field> {
    let name = field.ident.as_ref()?.unraw().to_string();
    let ty = type_path(&field.ty);
    let inner = ty
        .and_then(|path| path.segments.last())
        .and_then(|last| match &last.arguments {
            syn::PathArguments::AngleBracketed(args) => {
                args.args.iter().find_map(|arg| match arg {
                    syn::GenericArgument::Type(ty) => type_path(ty),
                    _ => None,
                })
            }
            _ => None,
        });
    let serde = |word: &str| serde_flag(&field.attrs, word);
    Some(Field {
        name,
        ty: ty.map(segments).unwrap_or_default(),
        inner: inner.map(segments).unwrap_or_default(),
        flatten: serde("flatten"),
        skip: serde("skip") || serde("skip_deserializing"),
    })
}

fn type_path(ty: &syn::Type) -> Option<&syn::Path> {
    match ty {
        syn::Type::Path(path) => Some(&path.path),
        syn::Type::Group(group) => type_path(&group.elem),
        syn::Type::Paren(paren) => type_path(&paren.elem),
        _ => None,
    }
}

fn segments(path: &syn::Path) -> Vec<String> {
    path.segments
        .iter()
        .map(|s| s.ident.unraw().to_string())
        .collect()
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

/// The keys under struct `root`, in field order.
pub fn config_keys(structs: &[StructDef], root: &str) -> Vec<String> {
    let mut keys = Vec::new();
    collect_keys(structs, root, "", 0, &mut keys);
    keys
}

fn collect_keys(
    structs: &[StructDef],
    name: &str,
    prefix: &str,
    depth: usize,
    keys: &mut Vec<String>,
) {
    let Some(def) = structs.iter().find(|s| s.name == name) else {
        return;
    };
    if depth > 8 {
        return;
    }
    for field in def.fields.iter().filter(|f| !f.skip) {
        let wrapper = matches!(
            field.ty.last().map(String::as_str),
            Some("Option" | "Box" | "Arc" | "Vec")
        );
        let path = if wrapper && !field.inner.is_empty() {
            &field.inner
        } else {
            &field.ty
        };
        let last = path.last().map(String::as_str).unwrap_or_default();
        let local = path.len() == 1 && structs.iter().any(|s| s.name == last);
        let key = format!("{prefix}{}", field.name);
        if field.flatten {
            if local {
                collect_keys(structs, last, prefix, depth + 1, keys);
            }
        } else if local {
            collect_keys(structs, last, &format!("{key}."), depth + 1, keys);
        } else if path.len() > 1 && last.ends_with("Config") {
            keys.push(format!("{key}.*"));
        } else {
            keys.push(key);
        }
    }
}

/// `server.port` -> `APP__SERVER__PORT`.
pub fn env_name(key: &str) -> String {
    format!("APP__{}", key.replace('.', "__").to_ascii_uppercase())
}
