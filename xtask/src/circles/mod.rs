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

mod paths;

use paths::referenced_paths;

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

#[cfg(test)]
mod tests;
