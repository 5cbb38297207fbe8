//! Every file the code and the docs cite exists in the repository, and nothing cites a file
//! that lives outside it. A citation is a path that starts with one of the repository's
//! top-level folders (`docs/04-optimize.md`, `steps/step02-apis/src/openapi.rs`,
//! `.config/nextest.toml`, `docker/nginx/`) or a Markdown link to a local file; it is looked
//! up from the root, from the citing file's crate, from its folder, then from each step's
//! crate (a chapter cites its step's `tests/it/openapi.rs` as that). Templates are not
//! citations: a path with a placeholder (`docs/NN-name.md`, `steps/stepNN-*/`, `step05-...`);
//! nor is a workflow's action at a version (`owner/action@v4`).
//! Notes kept beside the repository by its authors are not part of it: a reader of a clone
//! cannot open them, so their names are refused anywhere (see [`outside_names`]). The strings
//! of test code are fixtures (trees the tests make), so only its comments count there.

use std::collections::BTreeSet;

use super::{Problem, Tree};

const RULE: &str = "citations";

/// The files read for citations: sources, docs, manifests, scripts, service configuration.
const TEXT_EXTENSIONS: &[&str] = &[
    "rs", "md", "toml", "sh", "yml", "yaml", "conf", "proto", "json", "txt",
];

/// Names of notes that live beside the repository, never in it. Spelled in pieces, so this
/// file does not cite them itself.
pub fn outside_names() -> Vec<String> {
    vec![
        ["DESIGN", ".md"].concat(),
        ["STYLE", ".md"].concat(),
        ["MACHINE-NOTES", ".md"].concat(),
        ["..", "/shared"].concat(),
    ]
}

/// Whether `path` is a text file the rule reads.
fn is_text(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    if path == ".ci/run" {
        return true;
    }
    // Vendored, minified assets are not prose.
    if name.contains(".min.") || name == "Cargo.lock" {
        return false;
    }
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| TEXT_EXTENSIONS.contains(&ext))
}

/// `crates` are the steps' folders: a path the chapters and the docs cite from a step's crate
/// (`tests/it/openapi.rs`) is looked up in each.
pub fn check(tree: &Tree, crates: &[String]) -> Vec<Problem> {
    let tops: BTreeSet<String> = tree
        .files
        .iter()
        .filter_map(|f| f.split_once('/').map(|(top, _)| top.to_owned()))
        .collect();
    let outside = outside_names();
    let mut problems = Vec::new();
    for file in tree.files.iter().filter(|f| is_text(f)) {
        let Some(text) = tree.read(file) else {
            continue;
        };
        // Test code builds trees of its own: its strings are fixtures, not citations; its
        // comments still cite. Unit tests sit in `tests.rs` or after `#[cfg(test)]`.
        let mut in_tests = file.ends_with("/tests.rs");
        for (index, line) in text.lines().enumerate() {
            let at = format!("{file}:{}", index + 1);
            in_tests |= file.ends_with(".rs") && line.trim() == "#[cfg(test)]";
            for name in &outside {
                if line.contains(name.as_str()) {
                    problems.push(Problem {
                        rule: RULE,
                        at: at.clone(),
                        message: format!(
                            "cites `{name}`, which is not in the repository: say what it \
                             says here, in docs/ (e.g. docs/architecture.md), and cite that"
                        ),
                    });
                }
            }
            let fixture = in_tests && !line.trim_start().starts_with("//");
            for cited in paths_in(line, &tops).into_iter().filter(|_| !fixture) {
                if !resolves(tree, file, &cited)
                    && !crates.iter().any(|dir| tree.has(&join(dir, &cited)))
                {
                    problems.push(Problem {
                        rule: RULE,
                        at: at.clone(),
                        message: format!("cites `{cited}`, which does not exist"),
                    });
                }
            }
            if file.ends_with(".md") {
                for link in links_in(line) {
                    if !resolves_from_dir(tree, file, &link) {
                        problems.push(Problem {
                            rule: RULE,
                            at: at.clone(),
                            message: format!("links to `{link}`, which does not exist"),
                        });
                    }
                }
            }
        }
    }
    problems
}

/// Characters a cited path is made of.
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

/// The paths in `line` that start with a top-level folder of the repository, placeholders
/// left out.
pub fn paths_in(line: &str, tops: &BTreeSet<String>) -> Vec<String> {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let at_boundary = i == 0 || !is_path_char(chars[i - 1].1);
        if !(at_boundary && is_path_char(c)) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && is_path_char(chars[j].1) {
            j += 1;
        }
        let end = chars.get(j).map_or(line.len(), |(at, _)| *at);
        let next = chars.get(j).map(|(_, c)| *c);
        i = j;
        let token = &line[start..end];
        let Some((top, rest)) = token.split_once('/') else {
            continue;
        };
        if !tops.contains(top) || rest.is_empty() {
            continue;
        }
        // A template: followed by a placeholder, or with one inside. Or a GitHub action at a
        // version (`uses: docker/build-push-action@v7`): its owner's name may be one of our
        // folders, but it names a repository on GitHub, not a path here.
        if matches!(next, Some('*' | '<' | '{' | '[' | '$' | '@'))
            || token.contains("...")
            || token.split('/').any(|segment| segment.contains("NN"))
        {
            continue;
        }
        let cited = token.trim_end_matches(['.', ',', ':', ';']);
        if cited.ends_with('-') {
            continue;
        }
        found.push(cited.to_owned());
    }
    found
}

/// The local targets of Markdown links in `line`: `[text](target)`, without any `#anchor`.
pub fn links_in(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find("](") {
        rest = &rest[open + 2..];
        let Some(close) = rest.find(')') else { break };
        let target = rest[..close].trim();
        rest = &rest[close..];
        let target = target.split('#').next().unwrap_or_default();
        if target.is_empty()
            || target.contains("://")
            || target.starts_with("mailto:")
            || target.contains(char::is_whitespace)
        {
            continue;
        }
        found.push(target.to_owned());
    }
    found
}

/// `cited` from the root, from the citing file's crate (the nearest folder with a
/// `Cargo.toml`), or from the citing file's folder.
fn resolves(tree: &Tree, file: &str, cited: &str) -> bool {
    if tree.has(cited) {
        return true;
    }
    let mut dir = parent(file);
    loop {
        if tree.has(&format!("{dir}/Cargo.toml")) && tree.has(&join(&dir, cited)) {
            return true;
        }
        if dir.is_empty() {
            break;
        }
        dir = parent(&dir);
    }
    resolves_from_dir(tree, file, cited)
}

fn resolves_from_dir(tree: &Tree, file: &str, target: &str) -> bool {
    let dir = parent(file);
    let mut path: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    for segment in target.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if path.pop().is_none() {
                    return false;
                }
            }
            segment => path.push(segment),
        }
    }
    tree.has(&path.join("/"))
}

fn parent(path: &str) -> String {
    path.rsplit_once('/')
        .map_or_else(String::new, |(dir, _)| dir.to_owned())
}

fn join(dir: &str, path: &str) -> String {
    if dir.is_empty() {
        path.to_owned()
    } else {
        format!("{dir}/{path}")
    }
}
