//! `cargo xtask import`: a marketplace's scouts and orders from CSV or JSON Lines
//! files, record by record through `service::marketplace::import` (the use cases
//! behind `PUT /scouts/{id}` and `PUT /orders/{id}`), with a progress bar, a summary,
//! and a state file that lets an import cut short carry on where it stopped.
//!
//! Columns (CSV headers, or JSON keys), every one but the id optional where the route's
//! body allows it:
//! - scouts: `scout_id`, `user_id`, `display_name`, `active` (default `true`),
//!   `opening_balance_paise` (credited once, reason `opening_balance`);
//! - orders: `order_id`, `buyer_id`, `seller_id`, `item_price_paise`, `currency`
//!   (default `INR`), `status`, `scout_id`, `scout_bounty_paise`.
//!
//! In CSV an empty cell is a column left out; whole numbers and `true`/`false` are
//! read as such, anything else as text (and then refused by the check of its field).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use service::marketplace::import::{Imported, Importer};

/// Which file a run reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Scouts,
    Orders,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Scouts => "scouts",
            Kind::Orders => "orders",
        }
    }

    fn id_column(self) -> &'static str {
        match self {
            Kind::Scouts => "scout_id",
            Kind::Orders => "order_id",
        }
    }
}

/// Columns read as whole numbers when they hold only digits.
const NUMBER_COLUMNS: [&str; 6] = [
    "user_id",
    "buyer_id",
    "seller_id",
    "item_price_paise",
    "scout_bounty_paise",
    "opening_balance_paise",
];

/// One record of a file and where it was.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The line it starts on (1-based; a CSV header is line 1).
    pub line: u64,
    pub fields: Map<String, Value>,
}

/// The records of `path`: `.csv` with a header row, or `.jsonl` / `.ndjson` with one
/// JSON object a line (blank lines skipped).
pub fn read_records(path: &Path) -> Result<Vec<Record>> {
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match extension.as_str() {
        "csv" => read_csv(path),
        "jsonl" | "ndjson" => read_json_lines(path),
        _ => bail!(
            "{}: give a .csv file (with a header row) or a .jsonl file (one JSON object a line)",
            path.display()
        ),
    }
}

fn read_csv(path: &Path) -> Result<Vec<Record>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers: Vec<String> = reader
        .headers()
        .with_context(|| format!("{}: the header row", path.display()))?
        .iter()
        .map(|header| header.trim().to_owned())
        .collect();
    let mut records = Vec::new();
    for row in reader.records() {
        let row = row.with_context(|| format!("reading {}", path.display()))?;
        let line = row.position().map_or(0, |position| position.line());
        let mut fields = Map::new();
        for (header, cell) in headers.iter().zip(row.iter()) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            let value = if NUMBER_COLUMNS.contains(&header.as_str())
                && cell.bytes().all(|byte| byte.is_ascii_digit())
            {
                cell.parse::<u64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::from(cell))
            } else if header == "active" && cell.eq_ignore_ascii_case("true") {
                Value::Bool(true)
            } else if header == "active" && cell.eq_ignore_ascii_case("false") {
                Value::Bool(false)
            } else {
                Value::from(cell)
            };
            fields.insert(header.clone(), value);
        }
        records.push(Record { line, fields });
    }
    Ok(records)
}

fn read_json_lines(path: &Path) -> Result<Vec<Record>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(fields)) => fields,
            _ => bail!(
                "{}:{line_number}: not a JSON object on one line",
                path.display()
            ),
        };
        records.push(Record {
            line: line_number,
            fields,
        });
    }
    Ok(records)
}

/// What one file's import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FileReport {
    pub records: usize,
    /// Done by an earlier run of the same import (resumed past them).
    pub resumed_past: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub refused: Vec<Refusal>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub line: u64,
    pub id: String,
    pub reason: String,
}

/// How far an import of one file into one table got, kept while it runs and after it
/// fails, so the next run carries on; removed once the file is done.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Progress {
    /// Records gone through, in file order.
    done: usize,
    /// Those of them refused (their index): gone through again first, since what
    /// refused them (a scout not imported yet) may be corrected by now.
    #[serde(default)]
    refused: Vec<usize>,
}

/// One import run: where its progress is kept, and whether to start over.
pub struct ImportRun<'a> {
    pub importer: &'a Importer<'a>,
    /// Where progress files are kept (`.local/import`); none in a dry run.
    pub state_dir: Option<PathBuf>,
    /// Start from the first record whatever an earlier run did.
    pub restart: bool,
    pub show_progress: bool,
}

impl ImportRun<'_> {
    /// Imports `path`'s records of `kind`, in order, after those an earlier run of the
    /// same file into the same table did before it failed. Stops at the first failure
    /// that is not the record's (DynamoDB unreachable), with the progress saved.
    pub async fn file(&self, kind: Kind, path: &Path) -> Result<FileReport> {
        let records = read_records(path)?;
        let state = self.progress_file(kind, path)?;
        let mut progress = match (&state, self.restart) {
            (Some(state), false) if state.exists() => {
                serde_json::from_str::<Progress>(&std::fs::read_to_string(state)?)
                    .with_context(|| format!("{} is not an import's progress", state.display()))?
            }
            _ => Progress::default(),
        };
        progress.done = progress.done.min(records.len());
        let mut report = FileReport {
            records: records.len(),
            resumed_past: progress.done,
            ..FileReport::default()
        };
        let bar = if self.show_progress {
            let bar = indicatif::ProgressBar::new(records.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix:>7} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
                )?
                .progress_chars("=> "),
            );
            bar.set_prefix(kind.as_str());
            bar.set_position(progress.done as u64);
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        // What an earlier run refused first, then what it did not reach.
        let start = progress.done;
        let mut again = std::mem::take(&mut progress.refused);
        again.retain(|index| *index < start);
        report.resumed_past = start - again.len();
        let order: Vec<usize> = again.into_iter().chain(start..records.len()).collect();
        for index in order {
            let record = &records[index];
            let id = record
                .fields
                .get(kind.id_column())
                .and_then(Value::as_str)
                .unwrap_or("?")
                .chars()
                .take(128)
                .collect::<String>();
            let fields = record.fields.clone();
            let outcome = match kind {
                Kind::Scouts => self.importer.scout(fields).await,
                Kind::Orders => self.importer.order(fields).await,
            };
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(error) => {
                    self.save(&state, &progress)?;
                    bar.abandon();
                    bail!(
                        "{}:{}: {error}; {} of {} records done, and the same command carries on \
                         from there",
                        path.display(),
                        record.line,
                        progress.done,
                        records.len()
                    );
                }
            };
            match outcome {
                Imported::Created => report.created += 1,
                Imported::Updated => report.updated += 1,
                Imported::Unchanged => report.unchanged += 1,
                Imported::Refused(reason) => {
                    progress.refused.push(index);
                    report.refused.push(Refusal {
                        line: record.line,
                        id,
                        reason,
                    })
                }
            }
            progress.done = progress.done.max(index + 1);
            if progress.done % 100 == 0 {
                self.save(&state, &progress)?;
            }
            bar.inc(1);
        }
        // Finished: the next run of the same file goes through it all again (every
        // record idempotent), so what was refused is tried again once corrected.
        if let Some(state) = &state {
            if state.exists() {
                std::fs::remove_file(state)
                    .with_context(|| format!("removing {}", state.display()))?;
            }
        }
        bar.finish_and_clear();
        Ok(report)
    }

    /// `<table>-<kind>-<file name>-<content digest>[-complete-orders].json`: another
    /// file, the same one changed in any byte, or another choice of what to complete,
    /// starts over.
    pub fn progress_file(&self, kind: Kind, path: &Path) -> Result<Option<PathBuf>> {
        let Some(dir) = &self.state_dir else {
            return Ok(None);
        };
        let content = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let digest: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &content)
            .as_ref()
            .iter()
            .take(12)
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let flags = if self.importer.complete_orders {
            "-complete-orders"
        } else {
            ""
        };
        let name: String = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("file")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Ok(Some(dir.join(format!(
            "{}-{}-{name}-{digest}{flags}.json",
            self.importer.store.table(),
            kind.as_str()
        ))))
    }

    fn save(&self, state: &Option<PathBuf>, progress: &Progress) -> Result<()> {
        if let Some(state) = state {
            if let Some(dir) = state.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(state, serde_json::to_string(progress)?)
                .with_context(|| format!("writing {}", state.display()))?;
        }
        Ok(())
    }
}
