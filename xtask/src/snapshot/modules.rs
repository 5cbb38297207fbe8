//! A crate's module tree, found the way rustc finds it: from the target's root file, each
//! `mod name;` is `name.rs` or `name/mod.rs` in the folder its parent owns (a root, `lib.rs`,
//! `main.rs` or `mod.rs` owns its own folder; `foo.rs` owns `foo/`), or the file its
//! `#[path]` names; `mod name { ... }` is inline. A file no `mod` reaches is not compiled, so
//! it is not read. Each file is parsed with syn into a syntax tree: comments, strings and
//! macros are what they are, not patterns in text.

use std::path::{Path, PathBuf};

use anyhow::Context;
use syn::ext::IdentExt;

/// One module, file-backed or inline.
pub struct Module {
    /// Its path inside the crate: `[]` for the root, `["domain", "money"]`.
    pub path: Vec<String>,
    /// The file it is written in (an inline module's is its parent's), absolute.
    pub file: PathBuf,
    /// Its items, without its submodules: each of those is a [`Module`] of its own.
    pub items: Vec<syn::Item>,
    /// Compiled only into test builds: it or a module around it is `#[cfg(test)]`.
    pub test_only: bool,
}

/// Every module of the crate whose root file is `root`, the root first.
pub fn read_crate(root: &Path) -> anyhow::Result<Vec<Module>> {
    let mut modules = Vec::new();
    let place = Place {
        file: root.to_owned(),
        children: parent(root),
        inline: false,
        path: Vec::new(),
        test_only: false,
    };
    read_file(root, place, &mut modules)?;
    Ok(modules)
}

/// Where a module sits: what its `mod name;` declarations are relative to.
struct Place {
    file: PathBuf,
    /// The folder in which `mod name;` looks for `name.rs` and `name/mod.rs`.
    children: PathBuf,
    /// Inside a `mod name { ... }` of its file: `#[path]` is then relative to `children`.
    inline: bool,
    path: Vec<String>,
    test_only: bool,
}

fn read_file(file: &Path, place: Place, out: &mut Vec<Module>) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let ast = syn::parse_file(&text).with_context(|| format!("parsing {}", file.display()))?;
    add_module(ast.items, place, out)
}

fn add_module(items: Vec<syn::Item>, place: Place, out: &mut Vec<Module>) -> anyhow::Result<()> {
    let mut own = Vec::new();
    let mut submodules = Vec::new();
    for item in items {
        match item {
            syn::Item::Mod(module) => submodules.push(module),
            other => own.push(other),
        }
    }
    out.push(Module {
        path: place.path.clone(),
        file: place.file.clone(),
        items: own,
        test_only: place.test_only,
    });
    for module in submodules {
        let name = module.ident.unraw().to_string();
        let mut path = place.path.clone();
        path.push(name.clone());
        let test_only = place.test_only || is_cfg_test(&module.attrs);
        let path_attr = path_attribute(&module.attrs);
        match module.content {
            Some((_, items)) => {
                let inner = Place {
                    file: place.file.clone(),
                    children: place.children.join(path_attr.as_deref().unwrap_or(&name)),
                    inline: true,
                    path,
                    test_only,
                };
                add_module(items, inner, out)?;
            }
            None => {
                let found = match &path_attr {
                    Some(relative) => {
                        let base = if place.inline {
                            place.children.clone()
                        } else {
                            parent(&place.file)
                        };
                        Some(base.join(relative)).filter(|f| f.is_file())
                    }
                    None => module_file(&place.children, &name),
                };
                // A missing file fails the build; the snapshot skips it rather than guess.
                let Some(file) = found else { continue };
                // `foo/mod.rs` and `#[path]` files own their folder; `foo.rs` owns `foo/`.
                let owns_folder = path_attr.is_some() || file.ends_with("mod.rs");
                let children = if owns_folder {
                    parent(&file)
                } else {
                    parent(&file).join(&name)
                };
                let inner = Place {
                    file: file.clone(),
                    children,
                    inline: false,
                    path,
                    test_only,
                };
                read_file(&file, inner, out)?;
            }
        }
    }
    Ok(())
}

/// `name.rs` or `name/mod.rs` in `folder`.
pub fn module_file(folder: &Path, name: &str) -> Option<PathBuf> {
    [
        folder.join(format!("{name}.rs")),
        folder.join(name).join("mod.rs"),
    ]
    .into_iter()
    .find(|f| f.is_file())
}

fn parent(file: &Path) -> PathBuf {
    file.parent().map(Path::to_owned).unwrap_or_default()
}

/// `#[path = "x.rs"]`.
fn path_attribute(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|attr| match &attr.meta {
        syn::Meta::NameValue(pair) if pair.path.is_ident("path") => match &pair.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(text),
                ..
            }) => Some(text.value()),
            _ => None,
        },
        _ => None,
    })
}

/// `#[cfg(test)]`: compiled into test builds only.
pub fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg") && attr.parse_args::<syn::Ident>().is_ok_and(|i| i == "test")
    })
}
