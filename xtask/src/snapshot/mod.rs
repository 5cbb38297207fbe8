//! A crate's public shape, read from its sources: routes, config keys, dependencies, files and
//! tests. `cargo xtask diff A B` compares the snapshots of the crates steps A and B are built
//! from.
//!
//! The sources are read with a small tokenizer (comments skipped, string literals kept whole)
//! and a few patterns, not a Rust parser: `syn` would double xtask's build time, and the
//! patterns this project uses are few and fixed by STYLE.md (`.route("/path", get(a).post(b))`,
//! config structs holding sections, `#[test]`/`#[tokio::test]` fns). What the patterns miss
//! is a gap in a review aid, not a wrong build.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

mod manifest;

pub use manifest::{DepKind, Dependency, TargetKind, Workspace};

/// One route as the router declares it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    /// `GET`, `POST`, ... or `ANY` for a whole service.
    pub method: String,
    /// The path as written: relative to where the router is nested (see [`Nest`]).
    pub path: String,
    /// `file:line`, relative to the workspace root.
    pub at: String,
}

/// A `.nest("/prefix", ...)`: the routes of the nested router sit under `prefix`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Nest {
    pub prefix: String,
    pub at: String,
}

/// What one crate declares, each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrateSnapshot {
    pub package: String,
    pub routes: Vec<Route>,
    pub nests: Vec<Nest>,
    /// `server.port`: file keys; the environment spells them `APP__SERVER__PORT`.
    pub config_keys: Vec<String>,
    pub dependencies: Vec<Dependency>,
    /// Paths relative to the workspace root.
    pub files: Vec<String>,
    /// nextest style: `common::it orders::concurrent_orders_never_oversell`.
    pub tests: Vec<String>,
}

/// Reads the crate in `dir` (relative to `root`), a package of `workspace`.
pub fn snapshot(workspace: &Workspace, root: &Path, dir: &str) -> anyhow::Result<CrateSnapshot> {
    let crate_dir = root.join(dir);
    let manifest = workspace
        .package_in(&crate_dir)
        .with_context(|| format!("no package of the workspace is in {dir}"))?;
    let package = manifest.name.clone();
    let bins: Vec<(String, String)> = manifest
        .targets
        .iter()
        .filter(|t| t.kind == TargetKind::Bin)
        .map(|t| {
            let path = t.root.strip_prefix(&crate_dir).unwrap_or(&t.root);
            (t.name.clone(), path.display().to_string())
        })
        .collect();

    let mut files = Vec::new();
    walk(&crate_dir, &mut files)?;
    files.sort();
    let relative = |path: &Path| {
        path.strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string()
    };

    let mut snapshot = CrateSnapshot {
        package: package.clone(),
        dependencies: manifest.dependencies.clone(),
        files: files.iter().map(|f| relative(f)).collect(),
        ..CrateSnapshot::default()
    };
    let mut config_sources = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
    {
        let text =
            fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let tokens = tokenize(&text);
        let inside = file.strip_prefix(&crate_dir).unwrap_or(file);
        // Routes of the crate itself: tests may serve fakes (an OpenID provider) of their own.
        if inside.starts_with("src") {
            let (routes, nests) = routes_in(&tokens, &relative(file));
            snapshot.routes.extend(routes);
            snapshot.nests.extend(nests);
        }
        if let Some((binary, module)) = test_target(inside, &package, &bins) {
            snapshot.tests.extend(
                tests_in(&tokens, &module)
                    .into_iter()
                    .map(|name| format!("{binary} {name}")),
            );
        }
        if inside.starts_with("src") {
            let in_config =
                inside.starts_with("src/config") || inside == Path::new("src/config.rs");
            config_sources.push((in_config, tokens));
        }
    }
    // The config structs live in config.rs (or config/); elsewhere only if not there.
    let preferred: Vec<&[Token]> = config_sources
        .iter()
        .filter(|(in_config, _)| *in_config)
        .map(|(_, t)| t.as_slice())
        .collect();
    let structs = structs_in(&preferred);
    snapshot.config_keys = if structs.iter().any(|s| s.name == "Config") {
        config_keys(&structs, "Config")
    } else {
        let all: Vec<&[Token]> = config_sources.iter().map(|(_, t)| t.as_slice()).collect();
        config_keys(&structs_in(&all), "Config")
    };
    snapshot.routes.sort();
    snapshot.nests.sort();
    snapshot.config_keys.sort();
    snapshot.config_keys.dedup();
    snapshot.dependencies.sort();
    snapshot.tests.sort();
    snapshot.tests.dedup();
    Ok(snapshot)
}

/// Every file under `dir`, skipping build output and hidden entries.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// Identifiers, keywords and numbers.
    Ident(String),
    /// A string literal's contents, escapes left as written.
    Str(String),
    Punct(char),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
}

/// Rust source as tokens, without comments, lifetimes and char literals.
pub fn tokenize(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            let start_line = line;
            let mut text = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    text.push(chars[i]);
                    i += 1;
                }
                if chars[i] == '\n' {
                    line += 1;
                }
                text.push(chars[i]);
                i += 1;
            }
            i += 1;
            tokens.push(Token {
                tok: Tok::Str(text),
                line: start_line,
            });
        } else if let Some((hashes, open)) = raw_string_start(&chars, i) {
            let start_line = line;
            let mut text = String::new();
            i = open + 1;
            loop {
                if i >= chars.len() {
                    break;
                }
                if chars[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#') {
                    i += hashes + 1;
                    break;
                }
                if chars[i] == '\n' {
                    line += 1;
                }
                text.push(chars[i]);
                i += 1;
            }
            tokens.push(Token {
                tok: Tok::Str(text),
                line: start_line,
            });
        } else if c == '\'' {
            // A char literal ('a', '\n', '\'') or a lifetime ('a, 'static): skipped either way.
            if at(i + 1) == '\\' {
                // Past the quote, the backslash and the escaped char (itself maybe a quote).
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token {
                tok: Tok::Ident(chars[start..i].iter().collect()),
                line,
            });
        } else {
            tokens.push(Token {
                tok: Tok::Punct(c),
                line,
            });
            i += 1;
        }
    }
    tokens
}

/// `r"`, `r#"`, `br##"` ...: the number of hashes and the index of the opening quote.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if chars.get(j) == Some(&'b') || chars.get(j) == Some(&'c') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    // Not the tail of an identifier such as `for` or `bar`.
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some((hashes, j))
}

fn is_ident(token: Option<&Token>, name: &str) -> bool {
    matches!(token, Some(Token { tok: Tok::Ident(n), .. }) if n == name)
}

fn is_punct(token: Option<&Token>, c: char) -> bool {
    matches!(token, Some(Token { tok: Tok::Punct(p), .. }) if *p == c)
}

fn ident(token: Option<&Token>) -> Option<&str> {
    match token {
        Some(Token {
            tok: Tok::Ident(n), ..
        }) => Some(n),
        _ => None,
    }
}

/// The index of the token that closes the bracket opened at `open`.
fn matching(tokens: &[Token], open: usize) -> usize {
    let (o, c) = match tokens[open].tok {
        Tok::Punct('(') => ('(', ')'),
        Tok::Punct('[') => ('[', ']'),
        Tok::Punct('{') => ('{', '}'),
        Tok::Punct('<') => ('<', '>'),
        _ => return open,
    };
    let mut depth = 0;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        if is_punct(Some(token), o) {
            depth += 1;
        } else if is_punct(Some(token), c) {
            depth -= 1;
            if depth == 0 {
                return i;
            }
        }
    }
    tokens.len() - 1
}

// ---------------------------------------------------------------------------------------------
// Routes

const METHODS: &[&str] = &[
    "get", "post", "put", "delete", "patch", "head", "options", "trace", "connect", "any",
];

/// `.route("/path", get(a).post(b))` -> `GET /path`, `POST /path`; `.route_service` -> `ANY`;
/// `on(MethodFilter::PUT, h)` -> `PUT`; and every `.nest("/prefix", ...)`.
pub fn routes_in(tokens: &[Token], file: &str) -> (Vec<Route>, Vec<Nest>) {
    let mut routes = Vec::new();
    let mut nests = Vec::new();
    for i in 0..tokens.len() {
        if !is_punct(tokens.get(i), '.') || !is_punct(tokens.get(i + 2), '(') {
            continue;
        }
        let Some(call) = ident(tokens.get(i + 1)) else {
            continue;
        };
        let Some(Token {
            tok: Tok::Str(path),
            line,
        }) = tokens.get(i + 3)
        else {
            continue;
        };
        let at = format!("{file}:{line}");
        match call {
            "nest" | "nest_service" => nests.push(Nest {
                prefix: path.clone(),
                at,
            }),
            "route_service" => routes.push(Route {
                method: "ANY".into(),
                path: path.clone(),
                at,
            }),
            "route" => {
                let end = matching(tokens, i + 2);
                let mut methods = BTreeSet::new();
                for j in i + 4..end {
                    let Some(name) = ident(tokens.get(j)) else {
                        continue;
                    };
                    let base = name.strip_suffix("_service").unwrap_or(name);
                    if METHODS.contains(&base) && is_punct(tokens.get(j + 1), '(') {
                        methods.insert(base.to_ascii_uppercase());
                    } else if name == "MethodFilter"
                        && is_punct(tokens.get(j + 1), ':')
                        && let Some(m) = ident(tokens.get(j + 3))
                    {
                        methods.insert(m.to_ascii_uppercase());
                    }
                }
                for method in methods {
                    routes.push(Route {
                        method,
                        path: path.clone(),
                        at: at.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    (routes, nests)
}

// ---------------------------------------------------------------------------------------------
// Config keys

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// The type's path, generics left out: `common::Config`, `Option`.
    pub ty: Vec<String>,
    /// The first path inside the generics: `Option<TlsConfig>` -> `TlsConfig`.
    pub inner: Vec<String>,
    pub flatten: bool,
    pub skip: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructDef {
    pub name: String,
    pub fields: Vec<Field>,
}

/// Every struct with named fields in the given files.
pub fn structs_in(files: &[&[Token]]) -> Vec<StructDef> {
    let mut structs = Vec::new();
    for tokens in files {
        let mut i = 0;
        while i < tokens.len() {
            if is_ident(tokens.get(i), "struct")
                && let Some(name) = ident(tokens.get(i + 1))
            {
                let mut open = i + 2;
                if is_punct(tokens.get(open), '<') {
                    open = matching(tokens, open) + 1;
                }
                // `where` clauses: skip to the body.
                while open < tokens.len()
                    && !is_punct(tokens.get(open), '{')
                    && !is_punct(tokens.get(open), ';')
                    && !is_punct(tokens.get(open), '(')
                {
                    open += 1;
                }
                if is_punct(tokens.get(open), '{') {
                    let close = matching(tokens, open);
                    structs.push(StructDef {
                        name: name.to_owned(),
                        fields: fields_in(&tokens[open + 1..close]),
                    });
                    i = close;
                }
            }
            i += 1;
        }
    }
    structs
}

fn fields_in(body: &[Token]) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut i = 0;
    let mut attrs: Vec<&[Token]> = Vec::new();
    while i < body.len() {
        if is_punct(body.get(i), '#') && is_punct(body.get(i + 1), '[') {
            let close = i + 1 + matching(&body[i + 1..], 0);
            attrs.push(&body[i + 2..close]);
            i = close + 1;
            continue;
        }
        if is_ident(body.get(i), "pub") {
            i += 1;
            if is_punct(body.get(i), '(') {
                i += matching(&body[i..], 0) + 1;
            }
            continue;
        }
        if let Some(name) = ident(body.get(i))
            && is_punct(body.get(i + 1), ':')
            && !is_punct(body.get(i + 2), ':')
        {
            // The type runs to the next comma outside brackets.
            let mut j = i + 2;
            let mut depth = 0i32;
            let mut ty = Vec::new();
            let mut inner = Vec::new();
            while j < body.len() {
                match &body[j].tok {
                    Tok::Punct('<' | '(' | '[') => depth += 1,
                    Tok::Punct('>' | ')' | ']') => depth -= 1,
                    Tok::Punct(',') if depth == 0 => break,
                    Tok::Ident(part) if depth == 0 => ty.push(part.clone()),
                    Tok::Ident(part) if depth == 1 && inner_is_open(&body[i + 2..j]) => {
                        inner.push(part.clone())
                    }
                    _ => {}
                }
                j += 1;
            }
            let serde = |word: &str| {
                attrs.iter().any(|attr| {
                    is_ident(attr.first(), "serde") && attr.iter().any(|t| is_ident(Some(t), word))
                })
            };
            fields.push(Field {
                name: name.to_owned(),
                ty,
                inner,
                flatten: serde("flatten"),
                skip: serde("skip") || serde("skip_deserializing"),
            });
            attrs.clear();
            i = j + 1;
            continue;
        }
        i += 1;
    }
    fields
}

/// Whether the first generic argument is still being read (no `,` at depth 1 yet).
fn inner_is_open(before: &[Token]) -> bool {
    let mut depth = 0;
    for token in before {
        match token.tok {
            Tok::Punct('<' | '(' | '[') => depth += 1,
            Tok::Punct('>' | ')' | ']') => depth -= 1,
            Tok::Punct(',') if depth == 1 => return false,
            _ => {}
        }
    }
    true
}

/// The keys under struct `root`: a field whose type is another struct of the crate is a
/// section (`server.port`); `#[serde(flatten)]` merges a local struct's keys and skips a
/// foreign one (an earlier step's `Config`, whose keys that step's snapshot lists); a
/// section typed by another crate's `...Config` is shown as `name.*`.
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

// ---------------------------------------------------------------------------------------------
// Tests

/// The nextest binary id and module path of a source file, or `None` when it is not in a test
/// target (benches, examples, build scripts).
fn test_target(
    inside: &Path,
    package: &str,
    bins: &[(String, String)],
) -> Option<(String, Vec<String>)> {
    let parts: Vec<String> = inside
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let stem = |s: &str| s.trim_end_matches(".rs").to_owned();
    match parts.first().map(String::as_str) {
        Some("src") => {
            let rest = &parts[1..];
            if rest.first().map(String::as_str) == Some("bin") {
                let name = stem(rest.get(1)?);
                return Some((format!("{package}::bin/{name}"), Vec::new()));
            }
            let path = inside.display().to_string();
            let binary = match bins.iter().find(|(_, p)| *p == path) {
                Some((name, _)) => format!("{package}::bin/{name}"),
                None if rest == ["main.rs"] => format!("{package}::bin/{package}"),
                None => package.to_owned(),
            };
            Some((binary, module_path(rest)))
        }
        Some("tests") => match &parts[1..] {
            [file] => Some((format!("{package}::{}", stem(file)), Vec::new())),
            [dir, rest @ ..] => Some((format!("{package}::{dir}"), module_path(rest))),
            [] => None,
        },
        _ => None,
    }
}

/// `["domain", "money.rs"]` -> `domain::money`; `lib.rs`, `main.rs`, `mod.rs` add nothing.
fn module_path(parts: &[String]) -> Vec<String> {
    let mut path: Vec<String> = parts
        .iter()
        .map(|p| p.trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        path.last().map(String::as_str),
        Some("lib" | "main" | "mod")
    ) {
        path.pop();
    }
    path
}

/// The test fns of a file: fns under an attribute whose path ends in `test` (`#[test]`,
/// `#[tokio::test(...)]`, `#[sqlx::test]`), named with their module path.
pub fn tests_in(tokens: &[Token], module: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    let mut mods: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut pending = false;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                while mods.last().is_some_and(|(_, d)| *d > depth) {
                    mods.pop();
                }
            }
            Tok::Punct('#') if is_punct(tokens.get(i + 1), '[') => {
                let close = i + 1 + matching(&tokens[i + 1..], 0);
                let mut last = None;
                for token in &tokens[i + 2..close] {
                    match &token.tok {
                        Tok::Ident(name) => last = Some(name.as_str()),
                        Tok::Punct(':') => {}
                        _ => break,
                    }
                }
                if last == Some("test") {
                    pending = true;
                }
                i = close;
            }
            Tok::Ident(word) if word == "mod" => {
                if let Some(name) = ident(tokens.get(i + 1))
                    && is_punct(tokens.get(i + 2), '{')
                {
                    mods.push((name.to_owned(), depth + 1));
                }
            }
            Tok::Ident(word) if word == "fn" => {
                if pending && let Some(name) = ident(tokens.get(i + 1)) {
                    let mut path: Vec<&str> = module.iter().map(String::as_str).collect();
                    path.extend(mods.iter().map(|(m, _)| m.as_str()));
                    path.push(name);
                    found.push(path.join("::"));
                }
                pending = false;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace;

    fn strs(tokens: &[Token]) -> Vec<String> {
        tokens
            .iter()
            .filter_map(|t| match &t.tok {
                Tok::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn comments_chars_and_lifetimes_are_skipped_and_strings_kept_whole() {
        let tokens = tokenize(
            "// .route(\"/commented\", get(x))\n/* block /* nested */ */ fn f<'a>(c: char) \
             { let _ = ('\"', '\\'', \"a // b\", r#\"raw \"quoted\"\"#); }",
        );
        assert_eq!(strs(&tokens), ["a // b", "raw \"quoted\""]);
        assert!(
            tokens
                .iter()
                .all(|t| t.tok != Tok::Ident("commented".into()))
        );
        assert_eq!(tokens[0].line, 2);
    }

    const ROUTER: &str = r#"
pub fn router<S>() -> Router<S> {
    Router::new()
        .route("/products", get(list_products).post(create_product))
        .route(
            "/products/{id}",
            get(get_product).put(update_product).delete(delete_product),
        )
        .route("/legacy", on(MethodFilter::PATCH, patch_it))
        .route_service("/static", ServeDir::new("assets"))
        .nest("/api/v1", api())
}
"#;

    #[test]
    fn routes_are_read_with_every_method_of_their_method_router() {
        let (routes, nests) = routes_in(&tokenize(ROUTER), "src/routes.rs");
        let shown: Vec<String> = routes
            .iter()
            .map(|r| format!("{} {} {}", r.method, r.path, r.at))
            .collect();
        assert_eq!(
            shown,
            [
                "GET /products src/routes.rs:4",
                "POST /products src/routes.rs:4",
                "DELETE /products/{id} src/routes.rs:6",
                "GET /products/{id} src/routes.rs:6",
                "PUT /products/{id} src/routes.rs:6",
                "PATCH /legacy src/routes.rs:9",
                "ANY /static src/routes.rs:10",
            ]
        );
        assert_eq!(
            nests,
            [Nest {
                prefix: "/api/v1".into(),
                at: "src/routes.rs:11".into()
            }]
        );
    }

    const CONFIG: &str = r#"
#[derive(Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub base: common::Config,
    pub security: SecurityConfig,
    pub tls: Option<TlsConfig>,
    #[serde(skip)]
    pub computed: u32,
}
pub struct SecurityConfig {
    /// Seconds.
    pub refresh_ttl_secs: u64,
    pub(crate) keys: Vec<KeyConfig>,
    pub limits: HashMap<String, u32>,
    #[serde(flatten)]
    pub extra: Extra,
}
struct Extra { pub pepper: SecretString }
pub struct TlsConfig { cert: PathBuf }
"#;

    #[test]
    fn config_keys_follow_sections_and_flattening() {
        let tokens = tokenize(CONFIG);
        let structs = structs_in(&[&tokens]);
        assert_eq!(
            config_keys(&structs, "Config"),
            [
                "security.refresh_ttl_secs",
                "security.keys",
                "security.limits",
                "security.pepper",
                "tls.cert",
            ]
        );
        assert_eq!(
            env_name("security.refresh_ttl_secs"),
            "APP__SECURITY__REFRESH_TTL_SECS"
        );
    }

    #[test]
    fn a_section_typed_by_another_crate_is_shown_whole() {
        let tokens = tokenize("pub struct Config { pub base: common::Config, pub port: u16 }");
        let structs = structs_in(&[&tokens]);
        assert_eq!(config_keys(&structs, "Config"), ["base.*", "port"]);
    }

    const TESTS: &str = r#"
fn helper() {}
#[test]
fn top_level() {}
#[cfg(test)]
mod tests {
    use super::*;
    #[tokio::test(flavor = "multi_thread")]
    #[ignore]
    async fn inner_async() {}
    fn not_a_test() {}
    mod deeper { #[test] fn deep() { let _ = { 1 }; } }
    #[test]
    fn after_deeper() {}
}
"#;

    #[test]
    fn test_fns_are_named_with_their_module_path() {
        let found = tests_in(&tokenize(TESTS), &["config".to_owned()]);
        assert_eq!(
            found,
            [
                "config::top_level",
                "config::tests::inner_async",
                "config::tests::deeper::deep",
                "config::tests::after_deeper",
            ]
        );
    }

    #[test]
    fn files_map_to_nextest_binaries_and_modules() {
        let bins = vec![("shop".to_owned(), "src/main.rs".to_owned())];
        let target = |p: &str| test_target(Path::new(p), "common", &bins);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(target("src/lib.rs"), Some(("common".into(), vec![])));
        assert_eq!(
            target("src/domain/money.rs"),
            Some(("common".into(), s(&["domain", "money"])))
        );
        assert_eq!(
            target("src/domain/mod.rs"),
            Some(("common".into(), s(&["domain"])))
        );
        assert_eq!(
            target("src/main.rs"),
            Some(("common::bin/shop".into(), vec![]))
        );
        assert_eq!(
            target("tests/it/main.rs"),
            Some(("common::it".into(), vec![]))
        );
        assert_eq!(
            target("tests/it/orders.rs"),
            Some(("common::it".into(), s(&["orders"])))
        );
        assert_eq!(
            target("tests/smoke.rs"),
            Some(("common::smoke".into(), vec![]))
        );
        assert_eq!(target("benches/hot.rs"), None);
    }

    const METADATA: &str = r#"{
  "packages": [{
    "name": "step01-security",
    "manifest_path": "/ws/steps/step01-security/Cargo.toml",
    "targets": [
      {"kind": ["lib"], "name": "step01_security", "src_path": "/ws/steps/step01-security/src/lib.rs"},
      {"kind": ["bin"], "name": "shop-security", "src_path": "/ws/steps/step01-security/src/main.rs"},
      {"kind": ["test"], "name": "it", "src_path": "/ws/steps/step01-security/tests/it/main.rs"},
      {"kind": ["custom-build"], "name": "build-script-build", "src_path": "/ws/steps/step01-security/build.rs"}
    ],
    "dependencies": [
      {"name": "common", "kind": null, "rename": null, "path": "/ws/common"},
      {"name": "aes-gcm", "kind": null, "rename": null, "req": "^0.10"},
      {"name": "tests", "kind": "dev", "rename": "contract"},
      {"name": "cc", "kind": "build", "rename": null, "target": "cfg(unix)"}
    ]
  }],
  "workspace_root": "/ws",
  "version": 1
}"#;

    #[test]
    fn cargo_metadata_gives_every_kind_of_dependency_and_the_targets() {
        let workspace = Workspace::parse(METADATA).unwrap();
        let package = workspace
            .package_in(Path::new("/ws/steps/step01-security"))
            .unwrap();
        assert_eq!(package.name, "step01-security");
        let deps: Vec<String> = package
            .dependencies
            .iter()
            .map(|d| format!("{:?} {}", d.kind, d.name))
            .collect();
        assert_eq!(
            deps,
            [
                "Normal common",
                "Normal aes-gcm",
                "Dev contract",
                "Build cc"
            ]
        );
        let targets: Vec<String> = package
            .targets
            .iter()
            .map(|t| format!("{:?} {} {}", t.kind, t.name, t.root.display()))
            .collect();
        assert_eq!(
            targets,
            [
                "Lib step01_security /ws/steps/step01-security/src/lib.rs",
                "Bin shop-security /ws/steps/step01-security/src/main.rs",
                "Test it /ws/steps/step01-security/tests/it/main.rs",
                "Other build-script-build /ws/steps/step01-security/build.rs",
            ]
        );
        assert!(workspace.package_in(Path::new("/ws/common")).is_none());
    }

    #[test]
    fn the_snapshot_of_step_0_shows_its_routes_keys_dependencies_and_tests() {
        let snapshot = snapshot(&Workspace::load().unwrap(), &workspace::root(), "common").unwrap();
        assert_eq!(snapshot.package, "common");
        let routes: Vec<String> = snapshot
            .routes
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        for expected in [
            "GET /health",
            "POST /auth/login",
            "GET /products",
            "POST /orders",
        ] {
            assert!(
                routes.contains(&expected.to_owned()),
                "{expected} in {routes:?}"
            );
        }
        assert!(snapshot.nests.iter().any(|n| n.prefix == "/api/v1"));
        for key in [
            "server.port",
            "mongodb.uri",
            "auth.bcrypt_cost",
            "environment",
        ] {
            assert!(
                snapshot.config_keys.contains(&key.to_owned()),
                "{key} in {:?}",
                snapshot.config_keys
            );
        }
        assert!(snapshot.dependencies.iter().any(|d| d.name == "axum"));
        assert!(snapshot.files.contains(&"common/src/lib.rs".to_owned()));
        assert!(
            snapshot
                .tests
                .iter()
                .any(|t| t.starts_with("common::it orders::")),
            "{:?}",
            snapshot.tests
        );
        assert!(
            snapshot
                .tests
                .contains(&"common config::tests::a_short_jwt_secret_is_refused".to_owned())
        );
    }
}
