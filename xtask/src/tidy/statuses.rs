//! What the tools and the tables say about steps agrees with the steps table
//! (`xtask/src/steps.rs`): doctor's table of later steps (`LATER` in `cmd/doctor.rs`) names
//! only steps that do not exist yet (an existing step lists its needs in the steps table), and
//! the status column of the README's steps table and of `docs/README.md`'s chapter table says
//! `ready` or `in progress` (a step whose crate has landed while its issue is still open, its
//! chapter saying what is there and what is not yet) for the steps that exist, and `planned`
//! for the others.

use super::{Facts, Problem, Tree, table_rows};

const RULE: &str = "statuses";

/// The tables: the file, the column that names the step, and where the table sits (the first
/// table whose header has both columns).
const TABLES: &[(&str, &str)] = &[("README.md", "Step"), ("docs/README.md", "Chapter")];

pub fn check(tree: &Tree, facts: &Facts) -> Vec<Problem> {
    let mut problems = later_steps(facts);
    for (file, column) in TABLES {
        let Some(text) = tree.read(file) else {
            continue;
        };
        problems.extend(table_statuses(file, &text, column, facts));
    }
    problems
}

/// doctor's later steps that exist already.
fn later_steps(facts: &Facts) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (what, steps) in &facts.later {
        for number in numbers(steps) {
            if facts.exists(number) {
                problems.push(Problem {
                    rule: RULE,
                    at: "xtask/src/cmd/doctor.rs".into(),
                    message: format!(
                        "LATER lists {what} for step {number}, which exists: its row in the \
                         steps table (xtask/src/steps.rs) says what it needs; drop step \
                         {number} from LATER"
                    ),
                });
            }
        }
    }
    problems
}

/// The numbers in `text`: "steps 5 and 6 (orders)" gives 5 and 6.
fn numbers(text: &str) -> Vec<u8> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// The rows of the first table in `text` with a `column` and a `Status` column.
pub fn table_statuses(file: &str, text: &str, column: &str, facts: &Facts) -> Vec<Problem> {
    let lines: Vec<&str> = text.lines().collect();
    let mut problems = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if !line.trim_start().starts_with('|') || (index > 0 && lines[index - 1].starts_with('|')) {
            continue;
        }
        let rows = table_rows(&lines, index);
        let Some((_, header)) = rows.first() else {
            continue;
        };
        let (Some(step_at), Some(status_at)) = (
            header.iter().position(|c| c == column),
            header.iter().position(|c| c == "Status"),
        ) else {
            continue;
        };
        for (line_index, cells) in &rows[1..] {
            let (Some(step), Some(status)) = (cells.get(step_at), cells.get(status_at)) else {
                continue;
            };
            let Some(number) = numbers(step).first().copied() else {
                continue;
            };
            let exists = facts.exists(number);
            let wrong = match status.to_ascii_lowercase().as_str() {
                "planned" => exists,
                "ready" | "in progress" => !exists,
                _ => true,
            };
            if wrong {
                problems.push(Problem {
                    rule: RULE,
                    at: format!("{file}:{}", line_index + 1),
                    message: format!(
                        "step {number} is \"{status}\", but it {}: write \"{}\"",
                        if exists {
                            "exists"
                        } else {
                            "does not exist yet"
                        },
                        if exists {
                            "ready\" (or \"in progress"
                        } else {
                            "planned"
                        }
                    ),
                });
            }
        }
        break;
    }
    problems
}
