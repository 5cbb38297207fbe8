//! Names inside one crate, resolved the way its own code sees them, so a path in a route or a
//! config field leads to what it names: `crate::rest::RestConfig`, `super::X`, `self::X`, a
//! name in scope through a `use` (renamed, grouped or glob, and through `pub use`
//! re-exports), a child module's item (`rest::RestConfig`) or one of the same module. What
//! leads outside the crate (`common::Config`) is not resolved. A single name found none of these
//! ways falls back to the crate's item of that name, preferring a config module, as the
//! pattern reader before this one did. Two kinds of items are looked up: structs with named
//! fields (config sections) and string constants (`const NOOP_PATH: &str = "/internal/noop"`).

use std::collections::BTreeMap;

use syn::ext::IdentExt;

use super::modules::Module;

/// A `use` in one module, made absolute (a path from the crate root).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Import {
    /// `use a::b::C as D;` -> `D` names `[a, b, C]`.
    Name { alias: String, path: Vec<String> },
    /// `use a::b::*;` -> `[a, b]`.
    Glob(Vec<String>),
}

/// The items of one crate that snapshots look up, by their absolute path.
pub struct Names<'a> {
    /// Every module path of the crate.
    modules: Vec<Vec<String>>,
    structs: BTreeMap<Vec<String>, &'a syn::ItemStruct>,
    strings: BTreeMap<Vec<String>, String>,
    /// Each module's `use`s that stay in the crate, made absolute.
    imports: BTreeMap<Vec<String>, Vec<Import>>,
    /// Each module's `use`s of other crates: the name and the path as written.
    foreign: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>,
}

/// How deep `pub use` chains are followed: far beyond what a crate needs, short of a loop.
const MAX_HOPS: usize = 8;

impl<'a> Names<'a> {
    /// The names of `modules`, one crate's (the test-only ones are best left out).
    pub fn new(modules: impl IntoIterator<Item = &'a Module>) -> Names<'a> {
        let mut names = Names {
            modules: Vec::new(),
            structs: BTreeMap::new(),
            strings: BTreeMap::new(),
            imports: BTreeMap::new(),
            foreign: BTreeMap::new(),
        };
        let modules: Vec<&Module> = modules.into_iter().collect();
        names.modules = modules.iter().map(|m| m.path.clone()).collect();
        for module in modules {
            let at = |ident: &syn::Ident| {
                let mut path = module.path.clone();
                path.push(ident.unraw().to_string());
                path
            };
            for item in &module.items {
                match item {
                    syn::Item::Struct(def) => {
                        names.structs.insert(at(&def.ident), def);
                    }
                    syn::Item::Const(syn::ItemConst { ident, expr, .. })
                    | syn::Item::Static(syn::ItemStatic { ident, expr, .. }) => {
                        if let Some(text) = string_literal(expr) {
                            names.strings.insert(at(ident), text);
                        }
                    }
                    syn::Item::Use(item) => {
                        let mut found = Vec::new();
                        imports_of(&item.tree, Vec::new(), &mut found);
                        for import in found {
                            match names.absolute_import(&module.path, &import) {
                                Some(absolute) => names
                                    .imports
                                    .entry(module.path.clone())
                                    .or_default()
                                    .push(absolute),
                                None => {
                                    if let Import::Name { alias, path } = import {
                                        names
                                            .foreign
                                            .entry(module.path.clone())
                                            .or_default()
                                            .insert(alias, path);
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        names
    }

    /// The struct `path` names, written in module `from`: its module and its definition.
    pub fn find_struct(
        &self,
        from: &[String],
        path: &[String],
    ) -> Option<(Vec<String>, &'a syn::ItemStruct)> {
        let found = self
            .resolve(from, path, &|p| self.structs.contains_key(p))
            .or_else(|| self.by_name(self.structs.keys(), from, path))?;
        let def = self.structs[&found];
        Some((found[..found.len() - 1].to_vec(), def))
    }

    /// The text of the string constant `path` names, written in module `from`.
    pub fn find_string(&self, from: &[String], path: &[String]) -> Option<&str> {
        let found = self
            .resolve(from, path, &|p| self.strings.contains_key(p))
            .or_else(|| self.by_name(self.strings.keys(), from, path))?;
        Some(self.strings[&found].as_str())
    }

    /// The crate's struct `name` at its root (or re-exported there), else in any module.
    pub fn struct_named(&self, name: &str) -> Option<(Vec<String>, &'a syn::ItemStruct)> {
        self.find_struct(&[], &[name.to_owned()])
    }

    /// `path` as written in `from`, its first name replaced by what a `use` brought in: how far
    /// from here a type comes (`ServerConfig` imported from `common::config` is foreign).
    pub fn expand(&self, from: &[String], path: &[String]) -> Vec<String> {
        let Some(first) = path.first() else {
            return Vec::new();
        };
        let imported =
            self.imports
                .get(from)
                .into_iter()
                .flatten()
                .find_map(|import| match import {
                    Import::Name { alias, path } if alias == first => Some(path),
                    _ => None,
                });
        match imported.or_else(|| self.foreign.get(from)?.get(first)) {
            Some(full) => [&full[..], &path[1..]].concat(),
            None => path.to_vec(),
        }
    }

    /// Whether `path`, written in `from`, starts with a name another crate's `use` brought in.
    fn is_foreign(&self, from: &[String], path: &[String]) -> bool {
        path.first().is_some_and(|first| {
            self.foreign
                .get(from)
                .is_some_and(|f| f.contains_key(first))
        })
    }

    /// The absolute path of an item `exists` accepts that `path`, written in `from`, names.
    fn resolve(
        &self,
        from: &[String],
        path: &[String],
        exists: &dyn Fn(&[String]) -> bool,
    ) -> Option<Vec<String>> {
        if self.is_foreign(from, path) {
            return None;
        }
        self.candidates(from, path)
            .into_iter()
            .find_map(|candidate| self.follow(candidate, exists, 0))
    }

    /// `candidate` if it exists; else, when its module re-exports its last name, where that
    /// leads.
    fn follow(
        &self,
        candidate: Vec<String>,
        exists: &dyn Fn(&[String]) -> bool,
        hops: usize,
    ) -> Option<Vec<String>> {
        if exists(&candidate) {
            return Some(candidate);
        }
        if hops >= MAX_HOPS {
            return None;
        }
        let (name, module) = candidate.split_last()?;
        self.imports
            .get(module)
            .into_iter()
            .flatten()
            .filter_map(|import| match import {
                Import::Name { alias, path } if alias == name => Some(path.clone()),
                Import::Glob(base) => {
                    let mut path = base.clone();
                    path.push(name.clone());
                    Some(path)
                }
                Import::Name { .. } => None,
            })
            .find_map(|next| self.follow(next, exists, hops + 1))
    }

    /// Where `path`, written in `from`, may lead, most likely first.
    fn candidates(&self, from: &[String], path: &[String]) -> Vec<Vec<String>> {
        if let Some(absolute) = self.anchored(from, path) {
            return vec![absolute];
        }
        let mut candidates = Vec::new();
        let imports = self.imports.get(from).into_iter().flatten();
        for import in imports.clone() {
            if let Import::Name { alias, path: full } = import
                && Some(alias) == path.first()
            {
                let mut candidate = full.clone();
                candidate.extend_from_slice(&path[1..]);
                candidates.push(candidate);
            }
        }
        let mut local = from.to_vec();
        local.extend_from_slice(path);
        candidates.push(local);
        for import in imports {
            if let Import::Glob(base) = import {
                let mut candidate = base.clone();
                candidate.extend_from_slice(path);
                candidates.push(candidate);
            }
        }
        candidates
    }

    /// A path that says where it starts (`crate::`, `self::`, `super::`), made absolute.
    fn anchored(&self, from: &[String], path: &[String]) -> Option<Vec<String>> {
        match path.first().map(String::as_str) {
            Some("crate") => Some(path[1..].to_vec()),
            Some("self") => {
                let mut absolute = from.to_vec();
                absolute.extend_from_slice(&path[1..]);
                Some(absolute)
            }
            Some("super") => {
                let mut base = from.to_vec();
                let mut rest = path;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
                base.extend_from_slice(rest);
                Some(base)
            }
            _ => None,
        }
    }

    /// A single name's item anywhere in the crate, one in a `config` module first; never a
    /// name another crate's `use` brought in.
    fn by_name<'k>(
        &self,
        paths: impl Iterator<Item = &'k Vec<String>>,
        from: &[String],
        path: &[String],
    ) -> Option<Vec<String>> {
        let [name] = path else {
            return None;
        };
        if self.is_foreign(from, path) {
            return None;
        }
        let mut found: Vec<&Vec<String>> = paths.filter(|p| p.last() == Some(name)).collect();
        found.sort_by_key(|p| !p.iter().any(|s| s == "config"));
        found.first().map(|p| (*p).clone())
    }

    /// A `use` of module `from` as an absolute path; `None` when it leads to another crate.
    fn absolute_import(&self, from: &[String], import: &Import) -> Option<Import> {
        let absolute = |path: Vec<String>| -> Option<Vec<String>> {
            if let Some(anchored) = self.anchored(from, &path) {
                return Some(anchored);
            }
            // `use rest::X;` names a child module of `from`; anything else is another crate.
            let mut child = from.to_vec();
            child.push(path.first()?.clone());
            self.modules
                .contains(&child)
                .then(|| [from, &path[..]].concat())
        };
        match import {
            Import::Name { alias, path } => absolute(path.clone()).map(|path| Import::Name {
                alias: alias.clone(),
                path,
            }),
            Import::Glob(path) => absolute(path.clone()).map(Import::Glob),
        }
    }
}

/// The names one `use` tree brings in, each with the path written in it.
fn imports_of(tree: &syn::UseTree, prefix: Vec<String>, out: &mut Vec<Import>) {
    let with = |name: &syn::Ident| {
        let mut path = prefix.clone();
        path.push(name.unraw().to_string());
        path
    };
    match tree {
        syn::UseTree::Path(step) => imports_of(&step.tree, with(&step.ident), out),
        syn::UseTree::Name(name) if name.ident == "self" => {
            if let Some(last) = prefix.last() {
                out.push(Import::Name {
                    alias: last.clone(),
                    path: prefix.clone(),
                });
            }
        }
        syn::UseTree::Name(name) => out.push(Import::Name {
            alias: name.ident.unraw().to_string(),
            path: with(&name.ident),
        }),
        syn::UseTree::Rename(rename) => out.push(Import::Name {
            alias: rename.rename.unraw().to_string(),
            path: with(&rename.ident),
        }),
        syn::UseTree::Glob(_) => out.push(Import::Glob(prefix)),
        syn::UseTree::Group(group) => {
            for tree in &group.items {
                imports_of(tree, prefix.clone(), out);
            }
        }
    }
}

/// `"text"`, maybe in parentheses.
pub fn string_literal(expr: &syn::Expr) -> Option<String> {
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(text),
            ..
        }) => Some(text.value()),
        syn::Expr::Paren(inner) => string_literal(&inner.expr),
        syn::Expr::Group(inner) => string_literal(&inner.expr),
        _ => None,
    }
}

/// A path's names, as written.
pub fn segments(path: &syn::Path) -> Vec<String> {
    path.segments
        .iter()
        .map(|s| s.ident.unraw().to_string())
        .collect()
}
