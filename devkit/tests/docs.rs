//! The documentation holds together: the README stays a short front door, every
//! relative link in it and in `docs/` leads to a file of the repository (and, with an
//! `#anchor`, to a heading of that file), and no document or source points at a path
//! outside the repository, which a fresh clone does not have.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use devkit::paths;

/// The README is the newcomer's front door; the long sections live under `docs/`.
const README_MAX_LINES: usize = 300;

/// Directories that are not the repository's own text: build output, downloaded tools,
/// git's store.
const SKIPPED_DIRS: &[&str] = &["target", ".local", ".git", "node_modules"];

/// The Markdown files whose links are checked: the README and every page of `docs/`.
fn documents() -> Vec<PathBuf> {
    let root = paths::workspace_root();
    let mut files = vec![root.join("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    pages.sort();
    files.extend(pages);
    files
}

/// `text` without its fenced code blocks (their lines become empty, so line numbers
/// stay) and without its inline code spans (a run of N backticks up to the next run
/// of exactly N), where brackets and parentheses are code, not links.
fn prose(text: &str) -> String {
    let mut outside_fences = String::with_capacity(text.len());
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            outside_fences.push_str(line);
        }
        outside_fences.push('\n');
    }
    let chars: Vec<char> = outside_fences.chars().collect();
    let run_at = |i: usize| chars[i..].iter().take_while(|c| **c == '`').count();
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let run = run_at(i);
        let mut j = i + run;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let other = run_at(j);
                if other == run {
                    close = Some(j);
                    break;
                }
                j += other;
            } else {
                j += 1;
            }
        }
        match close {
            Some(j) => {
                // Keep the span's newlines so line numbers stay right.
                out.extend(chars[i..j + run].iter().filter(|c| **c == '\n'));
                i = j + run;
            }
            None => {
                out.extend(&chars[i..i + run]);
                i += run;
            }
        }
    }
    out
}

/// The targets of `[text](target)` links (and images) in `text`, with their line.
fn link_targets(text: &str) -> Vec<(usize, String)> {
    let prose = prose(text);
    let mut targets = Vec::new();
    let mut rest = prose.as_str();
    let mut offset = 0;
    while let Some(at) = rest.find("](") {
        let start = at + 2;
        let Some(len) = rest[start..].find(')') else {
            break;
        };
        let target = rest[start..start + len].trim();
        // `[text](path "title")`: the title is not part of the path.
        let target = target.split_whitespace().next().unwrap_or("");
        let line = prose[..offset + at].matches('\n').count() + 1;
        targets.push((line, target.to_owned()));
        offset += start + len;
        rest = &rest[start + len..];
    }
    targets
}

/// GitHub's anchor for a heading: lowercase, spaces to `-`, every other character that
/// is not a letter, a digit, `-` or `_` dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// Every anchor a Markdown file's headings make, outside code blocks; a repeated
/// heading gets `-1`, `-2`, … as on GitHub.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(line[hashes..].trim_end_matches('#'));
        let mut anchor = base.clone();
        let mut n = 0;
        while !anchors.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
    }
    anchors
}

/// `path` with `.` and `..` folded away, without touching the file system.
fn normalised(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[test]
fn the_readme_is_a_short_front_door() {
    let readme = std::fs::read_to_string(paths::workspace_root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines < README_MAX_LINES,
        "README.md has {lines} lines; keep it under {README_MAX_LINES} and move detail into docs/"
    );
}

#[test]
fn every_relative_link_in_the_docs_leads_to_a_file_and_heading_that_exist() {
    let root = paths::workspace_root();
    let mut broken = Vec::new();
    let mut checked = 0;
    for document in documents() {
        let text = std::fs::read_to_string(&document).unwrap();
        let name = document.strip_prefix(&root).unwrap().display().to_string();
        let dir = document.parent().unwrap();
        for (line, target) in link_targets(&text) {
            let lower = target.to_lowercase();
            if lower.starts_with("http://")
                || lower.starts_with("https://")
                || lower.starts_with("mailto:")
            {
                continue;
            }
            checked += 1;
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let file = if path.is_empty() {
                document.clone()
            } else {
                normalised(&dir.join(path))
            };
            if !file.starts_with(&root) {
                broken.push(format!("{name}:{line}: ({target}) leaves the repository"));
                continue;
            }
            if !file.is_file() {
                broken.push(format!("{name}:{line}: ({target}) is no file"));
                continue;
            }
            let Some(anchor) = anchor else {
                continue;
            };
            if file.extension().is_none_or(|ext| ext != "md") {
                broken.push(format!(
                    "{name}:{line}: ({target}) has an anchor into a file that is not Markdown"
                ));
                continue;
            }
            let headings = anchors(&std::fs::read_to_string(&file).unwrap());
            if !headings.contains(anchor) {
                broken.push(format!(
                    "{name}:{line}: ({target}): no heading of {} has the anchor #{anchor}",
                    file.strip_prefix(&root).unwrap().display()
                ));
            }
        }
    }
    assert!(checked > 0, "no relative links found: is the parser right?");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let name = entry.file_name();
        if entry.file_type().unwrap().is_dir() {
            if !SKIPPED_DIRS.iter().any(|skipped| name == *skipped) {
                walk(&path, found);
            }
        } else if path
            .extension()
            .is_some_and(|ext| ["md", "rs", "py", "yaml", "yml"].iter().any(|e| ext == *e))
        {
            found.push(path);
        }
    }
}

/// A fresh clone has nothing outside the repository: no document or source may send its
/// reader to the machine's shared directory or to a design file beside the checkout.
#[test]
fn nothing_points_at_paths_outside_the_repository() {
    let root = paths::workspace_root();
    // Spelled in pieces, so that this file does not name them itself.
    let outside = [
        ["/work", "/shared"].concat(),
        ["../shared", "/DESIGN"].concat(),
    ];
    let mut files = Vec::new();
    walk(&root, &mut files);
    assert!(files.iter().any(|file| file.ends_with("README.md")));
    let mut found = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (number, line) in text.lines().enumerate() {
            for path in &outside {
                if line.contains(path.as_str()) {
                    found.push(format!(
                        "{}:{}: {path}",
                        file.strip_prefix(&root).unwrap().display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "paths outside the repository:\n{}",
        found.join("\n")
    );
}

#[test]
fn slugs_are_githubs() {
    assert_eq!(slug("Deploy (AWS SAM)"), "deploy-aws-sam");
    assert_eq!(
        slug("Support runbook: \"I did not make this change\""),
        "support-runbook-i-did-not-make-this-change"
    );
    assert_eq!(slug("`payout_account.changed`"), "payout_accountchanged");
    assert_eq!(
        slug("Bringing a marketplace's history: `cargo xtask import`"),
        "bringing-a-marketplaces-history-cargo-xtask-import"
    );
    let repeated = anchors("# A\n## Notes\n```\n# not a heading\n```\n### Notes\n");
    assert_eq!(
        repeated,
        BTreeSet::from(["a".to_owned(), "notes".to_owned(), "notes-1".to_owned()])
    );
}

#[test]
fn links_in_code_are_not_links() {
    let text =
        "[a](one.md) `[b](two.md)` ``x ` [c](three.md)``\n```\n[d](four.md)\n```\n[e](five.md#x)";
    let targets: Vec<String> = link_targets(text).into_iter().map(|(_, t)| t).collect();
    assert_eq!(targets, ["one.md", "five.md#x"]);
}
