//! `shop.example.toml` names every configuration key a step reads, and no other. The keys a
//! step reads come from its config types, as `cargo xtask diff` reads them
//! ([`crate::snapshot::config_keys_of_lib`]); the file's keys are its `key = value` lines under
//! `[section]` headers, set or commented out alike:
//!
//! ```toml
//! [server]
//! port = 8080              # set: the default, written out
//! # [apis.graphql]         # a commented-out header opens a section too
//! # max_depth = 10         # commented out: the default, for a key most never set
//! ```
//!
//! A value that is an inline table (`default = { requests = 600, window_secs = 60 }`) names
//! its keys (`default.requests`, ...), unless the key itself is one value (a map such as
//! `keys = { k1 = "..." }`). A key shown whole (`section.*`, a section of another crate's type)
//! is present when any key of that section is. Prose in comments is not a key: a key line is a
//! name, `=` and a value, and nothing before the name.

use std::collections::BTreeSet;

use super::{Facts, Problem, Tree};

const RULE: &str = "example config";

/// The file, at the root.
pub const FILE: &str = "shop.example.toml";

pub fn check(tree: &Tree, facts: &Facts) -> Vec<Problem> {
    let mut read: BTreeSet<String> = BTreeSet::new();
    let mut problems = Vec::new();
    for step in &facts.steps {
        let lib = tree.root.join(&step.dir).join("src/lib.rs");
        match crate::snapshot::config_keys_of_lib(&lib) {
            Ok(keys) => read.extend(keys),
            Err(error) => problems.push(Problem {
                rule: RULE,
                at: format!("{}/src/lib.rs", step.dir),
                message: format!("cannot read step {}'s config keys: {error:#}", step.number),
            }),
        }
    }
    let Some(text) = tree.read(FILE) else {
        problems.push(Problem {
            rule: RULE,
            at: FILE.into(),
            message: "is missing: it lists every configuration key with its default".into(),
        });
        return problems;
    };
    let named = keys_in(&text, &read);
    let wholes: Vec<&str> = read.iter().filter_map(|k| k.strip_suffix(".*")).collect();
    let within_whole = |key: &str| {
        wholes
            .iter()
            .any(|whole| key.starts_with(&format!("{whole}.")))
    };
    for key in &read {
        let present = match key.strip_suffix(".*") {
            Some(whole) => named
                .iter()
                .any(|(k, _)| k.starts_with(&format!("{whole}."))),
            None => named.iter().any(|(k, _)| k == key),
        };
        if !present {
            problems.push(Problem {
                rule: RULE,
                at: FILE.into(),
                message: format!(
                    "misses `{key}`, which a step reads: add `# {} = <default>` under its \
                     section, with a one-line comment",
                    key.rsplit('.').next().unwrap_or(key)
                ),
            });
        }
    }
    for (key, line) in &named {
        if !read.contains(key) && !within_whole(key) {
            problems.push(Problem {
                rule: RULE,
                at: format!("{FILE}:{line}"),
                message: format!("names `{key}`, which no step reads: remove it or fix its name"),
            });
        }
    }
    problems
}

/// The keys `text` names, each with its line number. `known` are the keys the steps read: one
/// of them whose value is an inline table is a map, not a section.
pub fn keys_in(text: &str, known: &BTreeSet<String>) -> Vec<(String, usize)> {
    let mut section = String::new();
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        let body = line.trim_start_matches('#').trim();
        let body = without_comment(body);
        if let Some(name) = body.strip_prefix('[').and_then(|b| b.strip_suffix(']')) {
            if is_dotted_name(name) {
                section = name.to_owned();
            }
            continue;
        }
        let Some((name, value)) = body.split_once('=') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if !is_name(name) || value.is_empty() {
            continue;
        }
        let key = if section.is_empty() {
            name.to_owned()
        } else {
            format!("{section}.{name}")
        };
        match value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
            Some(inner) if !known.contains(&key) => {
                for part in inner.split(',') {
                    if let Some((inner_name, _)) = part.split_once('=')
                        && is_name(inner_name.trim())
                    {
                        keys.push((format!("{key}.{}", inner_name.trim()), index + 1));
                    }
                }
            }
            _ => keys.push((key, index + 1)),
        }
    }
    keys
}

/// `body` without a trailing `# comment` outside quotes.
fn without_comment(body: &str) -> &str {
    let mut quoted = false;
    for (at, c) in body.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return body[..at].trim(),
            _ => {}
        }
    }
    body
}

fn is_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_dotted_name(name: &str) -> bool {
    !name.is_empty() && name.split('.').all(is_name)
}
