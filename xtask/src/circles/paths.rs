//! Reading the `crate::` and `super::` paths a Rust file names, without a parser: the
//! text as code only (comments dropped, string and character literals emptied), paths
//! read leaf by leaf through braced groups, and whether a line lies in a module
//! written inline.

/// Every path starting at `crate` or `super` in the text, with its line and whether
/// it is inside a module written inline; a braced group (`crate::{a, b::{c, d}}`)
/// gives one path per leaf. Comments are skipped.
pub(super) fn referenced_paths(text: &str) -> Vec<(usize, Vec<String>, bool)> {
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
