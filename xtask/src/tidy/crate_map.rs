//! A step's `lib.rs` is its table of contents: its "Map of the crate" names every `pub mod` of
//! the lib (as an intra-doc link, `` [`name`] ``), and its "Try it" names the suites its
//! contract file runs (`tests/it/contract.rs`, one `testkit::contract_suites!(State: step00,
//! hostile00, ...)` line), in this one wording, so a reader knows what `cargo xtask step N`
//! checks:
//!
//! ```text
//! the contract suites 0-3 and the hostile suites 0-2
//! the contract suite 0 and the hostile suite 0
//! ```
//!
//! `contract suites A-B` means `stepAA` to `stepBB`, `hostile suites C-D` means `hostileCC` to
//! `hostileDD`; a step without hostile suites leaves that half out.

use std::collections::BTreeSet;

use super::{Facts, Problem, Tree};

const RULE: &str = "crate map";

pub fn check(tree: &Tree, facts: &Facts) -> Vec<Problem> {
    let mut problems = Vec::new();
    for step in &facts.steps {
        let lib = format!("{}/src/lib.rs", step.dir);
        let Some(text) = tree.read(&lib) else {
            problems.push(Problem {
                rule: RULE,
                at: lib.clone(),
                message: format!("step {} has no lib.rs here", step.number),
            });
            continue;
        };
        let docs = crate_docs(&text);
        let map = section(&docs, "Map of the crate");
        for module in pub_mods(&text) {
            let mentioned = map
                .as_deref()
                .is_some_and(|map| map.contains(&format!("[`{module}`]")));
            if !mentioned {
                problems.push(Problem {
                    rule: RULE,
                    at: lib.clone(),
                    message: format!(
                        "\"Map of the crate\" leaves out `pub mod {module}`: add a line \
                         \"- [`{module}`]: what it holds\""
                    ),
                });
            }
        }
        let contract = format!("{}/tests/it/contract.rs", step.dir);
        let Some(suites) = tree.read(&contract).and_then(|t| suites_of(&t)) else {
            problems.push(Problem {
                rule: RULE,
                at: contract,
                message: "has no `testkit::contract_suites!(State: step00, ...)` line".into(),
            });
            continue;
        };
        let wanted = wording(&suites);
        let said = section(&docs, "Try it").and_then(|try_it| said_suites(&try_it));
        if said.as_ref() != Some(&suites) {
            problems.push(Problem {
                rule: RULE,
                at: lib.clone(),
                message: format!(
                    "\"Try it\" {} but {contract} runs {}: write \"{wanted}\"",
                    match &said {
                        Some(said) => format!("says \"{}\"", wording(said)),
                        None => "names no suites".to_owned(),
                    },
                    suites.names().join(", ")
                ),
            });
        }
    }
    problems
}

/// Which suites a contract file runs, or a "Try it" names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suites {
    pub contract: BTreeSet<u8>,
    pub hostile: BTreeSet<u8>,
}

impl Suites {
    fn names(&self) -> Vec<String> {
        let contract = self.contract.iter().map(|n| format!("step{n:02}"));
        let hostile = self.hostile.iter().map(|n| format!("hostile{n:02}"));
        contract.chain(hostile).collect()
    }
}

/// The one wording of `suites`: "the contract suites 0-3 and the hostile suites 0-2".
pub fn wording(suites: &Suites) -> String {
    fn range(kind: &str, numbers: &BTreeSet<u8>) -> Option<String> {
        let (first, last) = (numbers.first()?, numbers.last()?);
        let contiguous = usize::from(last - first) + 1 == numbers.len();
        Some(if first == last {
            format!("the {kind} suite {first}")
        } else if contiguous {
            format!("the {kind} suites {first}-{last}")
        } else {
            let list: Vec<String> = numbers.iter().map(u8::to_string).collect();
            format!("the {kind} suites {}", list.join(", "))
        })
    }
    let parts: Vec<String> = [
        range("contract", &suites.contract),
        range("hostile", &suites.hostile),
    ]
    .into_iter()
    .flatten()
    .collect();
    parts.join(" and ")
}

/// The crate's `//!` doc, each line without its `//!` and one space.
fn crate_docs(text: &str) -> Vec<String> {
    text.lines()
        .map_while(|line| line.strip_prefix("//!"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line).to_owned())
        .collect()
}

/// The text of the `## title` section of `docs`, up to the next `## `.
fn section(docs: &[String], title: &str) -> Option<String> {
    let start = docs
        .iter()
        .position(|line| line.trim_start_matches('#').trim() == title && line.starts_with("##"))?;
    let body: Vec<&str> = docs[start + 1..]
        .iter()
        .take_while(|line| !line.starts_with("## "))
        .map(String::as_str)
        .collect();
    Some(body.join("\n"))
}

/// The lib's `pub mod name;` items at the top level.
fn pub_mods(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("pub mod "))
        .filter_map(|rest| rest.strip_suffix(';'))
        .map(|name| name.trim().to_owned())
        .collect()
}

/// The suites of `testkit::contract_suites!(State: a, b, ...)`.
pub fn suites_of(text: &str) -> Option<Suites> {
    let start = text.find("contract_suites!(")? + "contract_suites!(".len();
    let body = &text[start..];
    let body = &body[..body.find(')')?];
    let (_, list) = body.rsplit_once(':')?;
    let mut suites = Suites::default();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if let Some(n) = name.strip_prefix("step").and_then(|n| n.parse().ok()) {
            suites.contract.insert(n);
        } else if let Some(n) = name.strip_prefix("hostile").and_then(|n| n.parse().ok()) {
            suites.hostile.insert(n);
        }
    }
    Some(suites)
}

/// What a "Try it" says in the one wording; `None` when it names no contract suite.
pub fn said_suites(text: &str) -> Option<Suites> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let contract = numbers_after(&text, "contract suite")?;
    let hostile = numbers_after(&text, "hostile suite").unwrap_or_default();
    Some(Suites { contract, hostile })
}

/// The numbers after `kind` or `kind` + "s": `3`, `0-3` or `0, 2`.
fn numbers_after(text: &str, kind: &str) -> Option<BTreeSet<u8>> {
    let start = text.find(kind)? + kind.len();
    let rest = text[start..].strip_prefix('s').unwrap_or(&text[start..]);
    let rest = rest.trim_start();
    let spec: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '-' | ',' | ' '))
        .collect();
    let mut numbers = BTreeSet::new();
    for part in spec.split(',').map(str::trim) {
        // "0-3 and", "1 " and the like: only the leading range counts.
        let part = part.split(' ').next().unwrap_or_default();
        if part.is_empty() {
            continue;
        }
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to): (u8, u8) = (from.parse().ok()?, to.parse().ok()?);
                numbers.extend(from..=to);
            }
            None => {
                numbers.insert(part.parse().ok()?);
            }
        }
    }
    (!numbers.is_empty()).then_some(numbers)
}
