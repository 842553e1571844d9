//! No import circles: within each crate of the workspace, the modules' `crate::` and
//! `super::` references must form no cycle, so every module can be read, tested and
//! moved knowing only what lies below it. Between crates, cargo already refuses one.
//!
//! A module is a file (`store/payouts.rs` is `store::payouts`, `store/mod.rs` is
//! `store`). A reference counts as an edge to the deepest module its path names; a
//! module naming its own submodules (a `mod.rs` re-exporting its parts) is containment,
//! not an edge, while a submodule naming its parent is one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// A reference from one module to another, with where it is written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Reference {
    to: String,
    file: PathBuf,
    line: usize,
}

/// One crate's modules and the references between them.
#[derive(Debug, Default)]
struct ModuleGraph {
    /// Module path ("" for the crate root) → its file.
    modules: BTreeMap<String, PathBuf>,
    /// Module path → the modules it refers to, first reference of each.
    references: BTreeMap<String, BTreeMap<String, Reference>>,
}

/// Fails, naming each circle and the lines that close it, when any crate of the
/// workspace has one.
pub fn check(workspace: &Path) -> Result<()> {
    let mut found = Vec::new();
    let crates = crate_sources(workspace)?;
    for src in &crates {
        let graph = ModuleGraph::read(src)?;
        for circle in graph.circles() {
            found.push(graph.describe(src, workspace, &circle));
        }
    }
    if !found.is_empty() {
        bail!(
            "import circles between modules (a module must not reach, through any chain of \
             `use`, back to itself; move what both sides need below them):\n{}",
            found.join("\n")
        );
    }
    eprintln!("no import circles in the {} crates' modules", crates.len());
    Ok(())
}

/// Every crate's `src` folder in the workspace: a folder named `src` with a `lib.rs` or
/// `main.rs`, outside build output and installed tools.
fn crate_sources(workspace: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![workspace.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("");
            // Links are not followed: one pointing back up would never end.
            let is_dir = entry.file_type()?.is_dir();
            if !is_dir || name.starts_with('.') || name == "target" || name == "node_modules" {
                continue;
            }
            if name == "src" && (path.join("lib.rs").is_file() || path.join("main.rs").is_file()) {
                found.push(path);
            } else {
                pending.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

impl ModuleGraph {
    fn read(src: &Path) -> Result<Self> {
        let mut graph = ModuleGraph::default();
        let mut files = Vec::new();
        rust_files(src, &mut files)?;
        for file in &files {
            graph.modules.insert(module_path(src, file), file.clone());
        }
        for (module, file) in graph.modules.clone() {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            for (line, path, in_inline_module) in referenced_paths(&text) {
                let Some(to) = graph.resolve(&module, in_inline_module, &path) else {
                    continue;
                };
                let contained = module.is_empty() || to.starts_with(&format!("{module}::"));
                if to == module || contained {
                    continue;
                }
                graph
                    .references
                    .entry(module.clone())
                    .or_default()
                    .entry(to.clone())
                    .or_insert(Reference {
                        to,
                        file: file.clone(),
                        line,
                    });
            }
        }
        Ok(graph)
    }

    /// The deepest module a path (`crate::a::b::Item`, `super::c`) names, if any.
    /// Inside a module written inline in the file (`mod tests { use super::*; }`),
    /// `super` is the file's own module.
    fn resolve(&self, from: &str, in_inline_module: bool, path: &[String]) -> Option<String> {
        let mut segments = path.iter();
        let mut base: Vec<&str> = match segments.next()?.as_str() {
            "crate" => Vec::new(),
            "super" => {
                let mut here: Vec<&str> = from.split("::").filter(|s| !s.is_empty()).collect();
                if !in_inline_module {
                    here.pop();
                }
                here
            }
            _ => return None,
        };
        let mut rest = Vec::new();
        for segment in segments {
            if segment == "super" && rest.is_empty() {
                base.pop();
            } else {
                rest.push(segment.as_str());
            }
        }
        let full: Vec<&str> = base.into_iter().chain(rest).collect();
        (0..=full.len())
            .rev()
            .map(|length| full[..length].join("::"))
            .find(|candidate| self.modules.contains_key(candidate))
    }

    /// Each set of modules that reach one another (more than one module), found with
    /// Tarjan's strongly connected components.
    fn circles(&self) -> Vec<Vec<String>> {
        let nodes: Vec<&String> = self.modules.keys().collect();
        let mut state = Tarjan::default();
        for node in &nodes {
            if !state.index.contains_key(*node) {
                self.visit(node, &mut state);
            }
        }
        state.components
    }

    fn visit(&self, node: &str, state: &mut Tarjan) {
        let index = state.next;
        state.next += 1;
        state.index.insert(node.to_owned(), index);
        state.low.insert(node.to_owned(), index);
        state.stack.push(node.to_owned());
        state.on_stack.insert(node.to_owned());
        for to in self
            .references
            .get(node)
            .into_iter()
            .flat_map(|refs| refs.keys())
        {
            if !state.index.contains_key(to) {
                self.visit(to, state);
                let low = state.low[node].min(state.low[to]);
                state.low.insert(node.to_owned(), low);
            } else if state.on_stack.contains(to) {
                let low = state.low[node].min(state.index[to]);
                state.low.insert(node.to_owned(), low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(&member);
                let done = member == node;
                component.push(member);
                if done {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.components.push(component);
            }
        }
    }

    /// One cycle through the circle's first module, each step with the line that makes
    /// it.
    fn describe(&self, src: &Path, workspace: &Path, circle: &[String]) -> String {
        let members: BTreeSet<&String> = circle.iter().collect();
        let start = &circle[0];
        // Breadth-first within the circle, back to the start; each module reached keeps
        // the module it was reached from and the reference that did it.
        let mut came_from: BTreeMap<&String, (&String, &Reference)> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut closing = None;
        'search: while let Some(node) = queue.pop_front() {
            for (to, reference) in self.references.get(node).into_iter().flatten() {
                if !members.contains(to) {
                    continue;
                }
                if to == start {
                    closing = Some((node, reference));
                    break 'search;
                }
                if !came_from.contains_key(to) {
                    came_from.insert(to, (node, reference));
                    queue.push_back(to);
                }
            }
        }
        let mut steps = Vec::new();
        let mut step = closing;
        while let Some((from, reference)) = step {
            steps.push((from, reference));
            step = came_from.get(from).copied();
        }
        steps.reverse();
        let crate_name = src
            .parent()
            .and_then(|dir| dir.strip_prefix(workspace).ok())
            .map(|dir| dir.display().to_string())
            .unwrap_or_default();
        let mut text = format!("  in {crate_name}: {}", circle.join(", "));
        for (from, reference) in steps {
            let file = reference
                .file
                .strip_prefix(workspace)
                .unwrap_or(&reference.file);
            text.push_str(&format!(
                "\n    {} → {} ({}:{})",
                shown(from),
                shown(&reference.to),
                file.display(),
                reference.line
            ));
        }
        text
    }
}

fn shown(module: &str) -> &str {
    if module.is_empty() {
        "crate"
    } else {
        module
    }
}

#[derive(Default)]
struct Tarjan {
    next: usize,
    index: BTreeMap<String, usize>,
    low: BTreeMap<String, usize>,
    stack: Vec<String>,
    on_stack: BTreeSet<String>,
    components: Vec<Vec<String>>,
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            rust_files(&path, into)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            into.push(path);
        }
    }
    Ok(())
}

/// `store/payouts.rs` → `store::payouts`; `store/mod.rs` → `store`; `lib.rs` → "".
fn module_path(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.len() == 1 && matches!(parts[0].as_str(), "lib" | "main") {
        parts.clear();
    }
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// Every path starting at `crate` or `super` in the text, with its line and whether
/// it is inside a module written inline; a braced group (`crate::{a, b::{c, d}}`)
/// gives one path per leaf. Comments are skipped.
fn referenced_paths(text: &str) -> Vec<(usize, Vec<String>, bool)> {
    let lines = code_lines(text);
    let inline = inline_module_lines(&lines);
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let mut rest = line.as_str();
        while let Some(at) = find_root(rest) {
            let tail = &rest[at..];
            let (paths, used) = parse_path(tail);
            for path in paths {
                found.push((index + 1, path, inline[index]));
            }
            rest = &tail[used.max(1)..];
        }
    }
    // A group can span lines: read each one that opens on one line and closes on
    // another as a whole.
    for (number, group) in multiline_groups(&lines) {
        let (paths, _) = parse_path(&group);
        for path in paths {
            found.push((number, path, inline[number - 1]));
        }
    }
    found
}

/// For each line, whether it lies in a module written inline at the file's top level
/// (`mod tests {` … `}`, as rustfmt lays it out: the closing brace alone at column 0).
fn inline_module_lines(lines: &[String]) -> Vec<bool> {
    let mut inside = false;
    lines
        .iter()
        .map(|line| {
            let item = ["pub(crate) ", "pub(super) ", "pub "]
                .iter()
                .find_map(|visibility| line.strip_prefix(visibility))
                .unwrap_or(line);
            let opens = item
                .strip_prefix("mod ")
                .is_some_and(|rest| rest.trim_end().ends_with('{'));
            if opens {
                inside = true;
            } else if inside && line == "}" {
                inside = false;
                return true;
            }
            inside
        })
        .collect()
}

/// The text's lines as code only: comments dropped, and string and character literals
/// emptied (a path in a string, a test's fixture say, is no reference).
fn code_lines(text: &str) -> Vec<String> {
    let mut lines = vec![String::new()];
    let mut chars = text.chars().peekable();
    // Inside a string: `Some(hashes)` of its raw delimiter, `Some(None)` for a plain one.
    let mut string: Option<Option<usize>> = None;
    let mut block_comment = 0usize;
    while let Some(c) = chars.next() {
        if c == '\n' {
            lines.push(String::new());
            continue;
        }
        let line = lines.last_mut().expect("a line");
        if block_comment > 0 {
            if c == '*' && chars.peek() == Some(&'/') {
                chars.next();
                block_comment -= 1;
            } else if c == '/' && chars.peek() == Some(&'*') {
                chars.next();
                block_comment += 1;
            }
            continue;
        }
        match string {
            Some(None) => match c {
                // An escape: the next character is not the string's end (a line
                // continuation's newline is still counted as a line).
                '\\' if chars.peek() != Some(&'\n') => {
                    chars.next();
                }
                '"' => {
                    string = None;
                    line.push('"');
                }
                _ => {}
            },
            Some(Some(hashes)) => {
                if c == '"' {
                    let mut closing = 0;
                    while closing < hashes && chars.peek() == Some(&'#') {
                        chars.next();
                        closing += 1;
                    }
                    if closing == hashes {
                        string = None;
                        line.push('"');
                    }
                }
            }
            None => match c {
                '/' if chars.peek() == Some(&'/') => {
                    // The rest of the line is a comment.
                    while chars.peek().is_some_and(|next| *next != '\n') {
                        chars.next();
                    }
                }
                '/' if chars.peek() == Some(&'*') => {
                    chars.next();
                    block_comment = 1;
                }
                '"' => {
                    string = Some(None);
                    line.push('"');
                }
                'r' if matches!(chars.peek(), Some('"' | '#')) && starts_raw_literal(line) => {
                    let mut hashes = 0;
                    while chars.peek() == Some(&'#') {
                        chars.next();
                        hashes += 1;
                    }
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        string = Some(Some(hashes));
                        line.push('"');
                    } else {
                        // `r#ident`, a raw identifier.
                        line.push('r');
                    }
                }
                '\'' => {
                    // A character literal ('x', '\n', '"') is skipped; a lifetime is kept.
                    let mut ahead = chars.clone();
                    let literal = match ahead.next() {
                        Some('\\') => {
                            ahead.next();
                            ahead.find(|next| *next == '\'').is_some()
                        }
                        Some(_) => ahead.next() == Some('\''),
                        None => false,
                    };
                    if literal {
                        while let Some(next) = chars.next() {
                            if next == '\\' {
                                chars.next();
                            } else if next == '\'' {
                                break;
                            }
                        }
                    } else {
                        line.push('\'');
                    }
                }
                other => line.push(other),
            },
        }
    }
    lines
}

/// Whether an `r` after `line` starts a raw string (`r"…"`, `r#"…"#`, or `br#"…"#` after
/// a lone `b`) rather than ending an identifier.
fn starts_raw_literal(line: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    match line.strip_suffix('b') {
        Some(before) => !before.ends_with(is_ident),
        None => !line.ends_with(is_ident),
    }
}

/// Where the next `crate::` or `super::` starts that is a path's first segment.
fn find_root(text: &str) -> Option<usize> {
    let mut at = 0;
    loop {
        let candidates = ["crate::", "super::"]
            .iter()
            .filter_map(|root| text[at..].find(root).map(|found| at + found))
            .min()?;
        let before = text[..candidates].chars().next_back();
        let starts_path = !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        if starts_path {
            return Some(candidates);
        }
        at = candidates + 1;
    }
}

/// Reads a path from the start of `text`; returns its leaves and how many bytes it
/// used. An unclosed group yields only the prefix (its lines are read as a whole by
/// [`multiline_groups`]).
fn parse_path(text: &str) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    let mut at = 0;
    let bytes = text.as_bytes();
    loop {
        let start = at;
        while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
            at += 1;
        }
        if at == start {
            break;
        }
        prefix.push(text[start..at].to_owned());
        if text[at..].starts_with("::") {
            at += 2;
            if text[at..].starts_with('{') {
                let Some(close) = matching_brace(&text[at..]) else {
                    // Read whole by `multiline_groups`; the bare prefix is no reference.
                    return (Vec::new(), at);
                };
                let inner = &text[at + 1..at + close];
                let mut leaves = Vec::new();
                for item in split_top_level(inner) {
                    let item = item.trim();
                    let item = item.split(" as ").next().unwrap_or(item).trim();
                    // A trailing comma leaves an empty item: nothing is named.
                    if item.is_empty() {
                        continue;
                    }
                    if item == "*" || item == "self" {
                        leaves.push(prefix.clone());
                        continue;
                    }
                    let (inner_paths, _) = parse_path(item);
                    for inner_path in inner_paths {
                        leaves.push(prefix.iter().cloned().chain(inner_path).collect());
                    }
                }
                return (leaves, at + close + 1);
            }
        } else {
            break;
        }
    }
    (vec![prefix], at)
}

fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (index, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(index);
                }
            }
            _ => {}
        }
    }
    None
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// `use crate::{` … `};` groups that span lines, joined into one line each, with the
/// number of the line they start on.
fn multiline_groups(lines: &[String]) -> Vec<(usize, String)> {
    let mut groups = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index].as_str();
        if let Some(at) = find_root(line) {
            let tail = &line[at..];
            if tail.trim_end().ends_with("::{") {
                let mut joined = tail.to_owned();
                let mut end = index + 1;
                while end < lines.len() {
                    joined.push(' ');
                    joined.push_str(lines[end].trim());
                    end += 1;
                    if matching_brace(&joined[joined.find('{').unwrap_or(0)..]).is_some() {
                        break;
                    }
                }
                groups.push((index + 1, joined));
                index = end;
                continue;
            }
        }
        index += 1;
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_of(files: &[(&str, &str)]) -> (tempdir::Dir, ModuleGraph) {
        let dir = tempdir::Dir::new();
        for (path, text) in files {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().expect("a parent")).expect("a folder");
            std::fs::write(&file, text).expect("written");
        }
        let graph = ModuleGraph::read(dir.path()).expect("read");
        (dir, graph)
    }

    mod tempdir {
        use std::path::{Path, PathBuf};

        /// A folder of its own under the system's temporary folder, removed on drop.
        pub struct Dir(PathBuf);

        impl Dir {
            pub fn new() -> Self {
                let path =
                    std::env::temp_dir().join(format!("xtask-circles-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&path).expect("a temporary folder");
                Dir(path)
            }

            pub fn path(&self) -> &Path {
                &self.0
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn a_circle_through_siblings_is_found_with_the_lines_that_close_it() {
        let (dir, graph) = graph_of(&[
            ("lib.rs", "pub mod store;\n"),
            ("store/mod.rs", "mod payouts;\nmod stats;\npub use payouts::Lease;\n"),
            (
                "store/payouts.rs",
                "use super::stats::CounterChange;\npub struct Lease;\n",
            ),
            (
                "store/stats.rs",
                "// crate::store::payouts is only named in a comment here\nuse super::{\n    keys,\n    payouts::{built, key},\n};\npub struct CounterChange;\n",
            ),
        ]);
        let circles = graph.circles();
        assert_eq!(
            circles,
            vec![vec!["store::payouts".to_owned(), "store::stats".to_owned()]]
        );
        let described = graph.describe(dir.path(), dir.path(), &circles[0]);
        assert!(
            described.contains("store::payouts → store::stats (store/payouts.rs:1)"),
            "{described}"
        );
        assert!(
            described.contains("store::stats → store::payouts (store/stats.rs:2)"),
            "{described}"
        );
    }

    #[test]
    fn a_module_naming_its_parts_and_parts_naming_the_parent_is_no_circle() {
        let (_dir, graph) = graph_of(&[
            (
                "lib.rs",
                "pub mod store;\npub mod process;\npub use store::Store;\n",
            ),
            (
                "store/mod.rs",
                "mod payouts;\npub use payouts::Lease;\npub struct Store;\nfn key() {}\n",
            ),
            (
                "store/payouts.rs",
                "use super::{key, Store};\nuse crate::Error;\n",
            ),
            ("process.rs", "use crate::store::{Lease, Store};\n"),
        ]);
        assert!(graph.circles().is_empty(), "{:?}", graph.references);
        assert!(graph.references["process"].contains_key("store"));
        assert!(graph.references["store::payouts"].contains_key("store"));
    }

    #[test]
    fn a_circle_through_four_modules_is_one_circle_and_a_tests_super_is_its_file() {
        let (_dir, graph) = graph_of(&[
            (
                "main.rs",
                "mod test;\nmod chaos;\nmod smoke;\nmod browser;\nmod gateway;\n",
            ),
            (
                "test.rs",
                "fn run() { crate::chaos::simulate(); crate::smoke::run(); }\n",
            ),
            (
                "chaos/mod.rs",
                "mod load;\nfn f() { let _ = crate::test::dynamodb_for_run(\"x\"); }\n",
            ),
            ("chaos/load.rs", "use crate::browser as b;\n"),
            ("smoke.rs", "use crate::{browser, gateway::simulated};\n"),
            (
                "browser.rs",
                "let x = crate::test::dynamodb_for_run(\"http://x\");\n",
            ),
            (
                "gateway/mod.rs",
                "mod simulated;\nuse crate::smoke::Thing;\n",
            ),
            (
                "gateway/simulated.rs",
                "pub struct Bank;\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
            ),
        ]);
        assert_eq!(
            graph.circles(),
            vec![vec![
                "browser".to_owned(),
                "chaos".to_owned(),
                "smoke".to_owned(),
                "test".to_owned()
            ]]
        );
    }

    #[test]
    fn strings_comments_and_characters_are_not_code() {
        let text = "let a = \"crate::test::x\"; // crate::chaos\nlet b = '\"'; let c = crate::smoke::run;\n/* crate::browser\n */ let d = r#\"super::x \"# ;\nfn f<'a>(x: &'a str) { crate::dev::go() }\n";
        let paths: Vec<String> = referenced_paths(text)
            .into_iter()
            .map(|(line, path, _)| format!("{line}:{}", path.join("::")))
            .collect();
        assert_eq!(paths, vec!["2:crate::smoke::run", "5:crate::dev::go"]);
    }

    #[test]
    fn raw_byte_strings_and_restricted_inline_modules_are_read_as_written() {
        let text = "let body = br#\"{\"a\":\"crate::x\"}\"#; let q = 1;\nlet ok = crate::dev::go;\npub(crate) mod inner {\n    use super::*;\n}\n";
        let found: Vec<(usize, String, bool)> = referenced_paths(text)
            .into_iter()
            .map(|(line, path, inline)| (line, path.join("::"), inline))
            .collect();
        assert_eq!(
            found,
            vec![
                (2, "crate::dev::go".to_owned(), false),
                (4, "super".to_owned(), true)
            ]
        );
    }

    #[test]
    fn a_group_over_several_lines_names_its_leaves_not_its_prefix() {
        let text = "use super::{\n    keys,\n    payouts::{built, key},\n};\n";
        let found: Vec<String> = referenced_paths(text)
            .into_iter()
            .map(|(_, path, _)| path.join("::"))
            .collect();
        assert_eq!(
            found,
            vec![
                "super::keys",
                "super::payouts::built",
                "super::payouts::key"
            ]
        );
    }
}
