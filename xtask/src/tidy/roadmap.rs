//! Every chapter (`docs/NN-*.md`, later steps included) has a "From the roadmap" section with a
//! table under it: the tool the roadmap names for that step, what this step uses, and why. A
//! learner who comes from the roadmap looks for its tools by name; the table is where they are
//! answered. The section is any heading whose text starts with "From the roadmap"; the table
//! must come before the next heading of the same or a higher level.

use super::{Problem, Tree, is_separator_row};

const RULE: &str = "roadmap";

const HEADING: &str = "from the roadmap";

pub fn check(tree: &Tree) -> Vec<Problem> {
    tree.files
        .iter()
        .filter(|f| is_chapter(f))
        .filter_map(|file| {
            let text = tree.read(file)?;
            let message = missing(&text)?;
            Some(Problem {
                rule: RULE,
                at: file.clone(),
                message: message.to_owned(),
            })
        })
        .collect()
}

/// `docs/04-optimize.md`: two digits, a dash, Markdown.
fn is_chapter(path: &str) -> bool {
    let Some(name) = path.strip_prefix("docs/") else {
        return false;
    };
    let bytes = name.as_bytes();
    !name.contains('/')
        && name.ends_with(".md")
        && bytes.len() > 3
        && bytes[0].is_ascii_digit()
        && bytes[1].is_ascii_digit()
        && bytes[2] == b'-'
}

/// What is missing from a chapter, or `None` when its section and table are there.
pub fn missing(text: &str) -> Option<&'static str> {
    let lines: Vec<&str> = text.lines().collect();
    // Each line's heading level; `# ...` inside a fenced code block is a shell comment.
    let mut fenced = false;
    let levels: Vec<Option<usize>> = lines
        .iter()
        .map(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return None;
            }
            let hashes = line.chars().take_while(|c| *c == '#').count();
            (!fenced && hashes > 0 && line[hashes..].starts_with(' ')).then_some(hashes)
        })
        .collect();
    let level = |i: usize| levels[i];
    let Some((start, own)) = lines.iter().enumerate().find_map(|(i, line)| {
        let own = level(i)?;
        line[own..]
            .trim()
            .to_ascii_lowercase()
            .starts_with(HEADING)
            .then_some((i, own))
    }) else {
        return Some(
            "has no \"From the roadmap\" section: a heading and a table (the tool the \
             roadmap names | what this step uses | why)",
        );
    };
    let body = (start + 1..lines.len()).take_while(|&i| level(i).is_none_or(|l| l > own));
    let mut previous_is_row = false;
    for line in body.map(|i| lines[i]) {
        if previous_is_row && is_separator_row(line) {
            return None;
        }
        previous_is_row = line.trim_start().starts_with('|');
    }
    Some(
        "has a \"From the roadmap\" section without a table: (the tool the roadmap names | \
         what this step uses | why)",
    )
}
