//! The README claims only components that a step which exists uses. The claims are the list
//! after "Everything runs for real:" up to the end of that sentence (items between commas and
//! "and"). Each must name a service or tool of an existing step (the steps table's services
//! and tools: MongoDB, Redis, nginx) or something the "Adds" column of a `ready` row of the
//! README's steps table names (gRPC, GraphQL). A component a later step brings (PostgreSQL in
//! step 5, Prometheus in step 9) belongs in its own row until that step exists.

use super::{Facts, Problem, Tree, table_rows};

const RULE: &str = "claims";

const FILE: &str = "README.md";

/// What opens the claims.
pub const LEAD: &str = "Everything runs for real:";

pub fn check(tree: &Tree, facts: &Facts) -> Vec<Problem> {
    let Some(text) = tree.read(FILE) else {
        return Vec::new();
    };
    let Some((line, claims)) = claims_in(&text) else {
        return vec![Problem {
            rule: RULE,
            at: FILE.into(),
            message: format!(
                "has no \"{LEAD} A, B and C.\" sentence naming the components that run for real"
            ),
        }];
    };
    let ready = ready_additions(&text);
    let mut problems = Vec::new();
    for claim in claims {
        let lower = claim.to_ascii_lowercase();
        let used = facts
            .components
            .iter()
            .any(|c| lower.contains(&c.to_ascii_lowercase()))
            || ready.iter().any(|adds| adds.contains(&lower));
        if !used {
            problems.push(Problem {
                rule: RULE,
                at: format!("{FILE}:{line}"),
                message: format!(
                    "claims \"{claim}\" runs for real, but no ready step uses it: move it to \
                     the row of the step that brings it"
                ),
            });
        }
    }
    problems
}

/// The claims and the line they start on.
pub fn claims_in(text: &str) -> Option<(usize, Vec<String>)> {
    let start = text.find(LEAD)?;
    let line = text[..start].lines().count().max(1);
    let rest = &text[start + LEAD.len()..];
    let end = [rest.find(". "), rest.find(".\n"), Some(rest.len())]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(rest.len());
    let sentence = rest[..end].split_whitespace().collect::<Vec<_>>().join(" ");
    let claims = sentence
        .split(',')
        .flat_map(|part| part.split(" and "))
        .map(|claim| claim.trim().trim_start_matches("the ").trim().to_owned())
        .filter(|claim| !claim.is_empty())
        .collect();
    Some((line, claims))
}

/// The "Adds" cells of the steps table's `ready` rows, in lower case.
fn ready_additions(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines
        .iter()
        .position(|l| l.starts_with('|') && l.contains("Adds") && l.contains("Status"))
    else {
        return Vec::new();
    };
    let rows = table_rows(&lines, start);
    let header = &rows[0].1;
    let (Some(adds), Some(status)) = (
        header.iter().position(|c| c == "Adds"),
        header.iter().position(|c| c == "Status"),
    ) else {
        return Vec::new();
    };
    rows[1..]
        .iter()
        .filter(|(_, cells)| cells.get(status).is_some_and(|s| s == "ready"))
        .filter_map(|(_, cells)| cells.get(adds).map(|a| a.to_ascii_lowercase()))
        .collect()
}
