//! CSV answers for finance: one page of rows at a time, each page a whole file with its
//! header, small enough for one Lambda answer, and safe to open in a spreadsheet.
//!
//! API Gateway's HTTP API takes at most 6 MB from a Lambda, so an export of any size is
//! answered in pages: a page stops at [`MAX_ROWS`] rows or [`BYTE_BUDGET`] bytes, and
//! names where the next one starts (the API turns that into a `Link: rel="next"`
//! header). A client follows the links until there is none (docs/API.md).

use std::future::Future;

use domain::error::{Error, Result};
use store::PageKey;

use crate::cursor;

/// The most rows one page holds (the default: a caller may ask for fewer).
pub const MAX_ROWS: usize = 10_000;

/// A page stops adding rows once it is this long as the runtime sends it (a JSON string:
/// every `"`, `\` and line end escaped), checked after every [`ROWS_PER_READ`] rows: far
/// enough under the 6 MB answer limit for those last rows to fit however they are quoted.
pub const BYTE_BUDGET: usize = 4 * 1024 * 1024;

/// Rows read from DynamoDB at a time (one more, to tell whether another page follows).
pub const ROWS_PER_READ: usize = 250;

/// One page of a CSV export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvPage {
    /// The header and the rows, RFC 4180, `\r\n` line ends.
    pub text: String,
    pub rows: usize,
    /// Where the next page starts, if there is one: an opaque cursor.
    pub next_cursor: Option<String>,
}

/// One page of a listing as CSV: `header`, then a row (`row`) for each item `read`
/// hands back, [`ROWS_PER_READ`] asked for at a time from `start`, until the listing
/// ends or the page is full (`max_rows`, or [`BYTE_BUDGET`]); where the next page
/// starts is a cursor of the listing `scope`.
pub async fn page_of<T, Read, Reading, Row, Cells, Cell>(
    header: &[&str],
    max_rows: usize,
    mut start: Option<PageKey>,
    mut read: Read,
    row: Row,
    scope: &str,
) -> Result<CsvPage>
where
    Read: FnMut(usize, Option<PageKey>) -> Reading,
    Reading: Future<Output = Result<(Vec<T>, Option<PageKey>)>>,
    Row: Fn(&T) -> Cells,
    Cells: IntoIterator<Item = Cell>,
    Cell: AsRef<str>,
{
    let mut writer = CsvWriter::new(header)?;
    loop {
        let wanted = (max_rows - writer.rows()).min(ROWS_PER_READ);
        let (items, next) = read(wanted, start).await?;
        for item in &items {
            writer.row(row(item))?;
        }
        start = next;
        if start.is_none() || writer.is_full(max_rows)? {
            break;
        }
    }
    let next_cursor = start.map(|next| cursor::encode(scope, &next)).transpose()?;
    writer.finish(next_cursor)
}

/// Writes the rows of one page.
pub struct CsvWriter {
    writer: csv::Writer<Vec<u8>>,
    rows: usize,
    /// How long the text is as a JSON string, up to `counted` bytes of it.
    escaped_len: usize,
    counted: usize,
}

impl CsvWriter {
    pub fn new(header: &[&str]) -> Result<Self> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        writer.write_record(header).map_err(Error::store)?;
        Ok(CsvWriter {
            writer,
            rows: 0,
            escaped_len: 0,
            counted: 0,
        })
    }

    pub fn row<I, S>(&mut self, cells: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.writer
            .write_record(
                cells
                    .into_iter()
                    .map(|cell| spreadsheet_safe(cell.as_ref()).into_owned()),
            )
            .map_err(Error::store)?;
        self.rows += 1;
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Whether the page is as long as it may grow.
    pub fn is_full(&mut self, max_rows: usize) -> Result<bool> {
        self.writer.flush().map_err(Error::store)?;
        let text = self.writer.get_ref();
        self.escaped_len += text[self.counted..]
            .iter()
            .map(|byte| match byte {
                b'"' | b'\\' | b'\r' | b'\n' => 2,
                _ => 1,
            })
            .sum::<usize>();
        self.counted = text.len();
        Ok(self.rows >= max_rows || self.escaped_len >= BYTE_BUDGET)
    }

    pub fn finish(self, next_cursor: Option<String>) -> Result<CsvPage> {
        let rows = self.rows;
        let bytes = self
            .writer
            .into_inner()
            .map_err(|err| Error::store(err.error()))?;
        let text = String::from_utf8(bytes).map_err(Error::store)?;
        Ok(CsvPage {
            text,
            rows,
            next_cursor,
        })
    }
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, their full-width
/// forms, a tab, a return or a NUL first) gets a leading `'`, as OWASP advises for CSV
/// exports: ids and references come from the marketplace and the gateway, and finance
/// opens these files. Numbers are never negative here, so no number is changed.
fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '＝' | '＋' | '－' | '＠' | '\t' | '\r' | '\0') => {
            format!("'{cell}").into()
        }
        _ => cell.into(),
    }
}

/// Several values in one cell, `;`-separated, each made safe on its own: a spreadsheet
/// that splits on `;` sees each as a cell.
pub fn list<I, S>(values: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    values
        .into_iter()
        .map(|value| spreadsheet_safe(value.as_ref()).into_owned())
        .collect::<Vec<_>>()
        .join(";")
}

/// An optional cell: empty when absent.
pub fn optional<T: ToString>(value: Option<T>) -> String {
    value.map(|value| value.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_a_whole_file_and_formulas_are_defused() {
        let mut writer = CsvWriter::new(&["id", "note"]).unwrap();
        writer.row(["a,1", "=HYPERLINK(\"x\")"]).unwrap();
        writer.row(["@SUM(A1)", "plain \"quoted\""]).unwrap();
        writer.row(["-1", "\0"]).unwrap();
        let page = writer.finish(None).unwrap();
        assert_eq!(page.rows, 3);
        assert_eq!(
            page.text,
            "id,note\r\n\"a,1\",\"'=HYPERLINK(\"\"x\"\")\"\r\n'@SUM(A1),\"plain \"\"quoted\"\"\"\r\n'-1,'\0\r\n"
        );
    }

    #[test]
    fn a_page_is_full_at_its_rows() {
        let mut writer = CsvWriter::new(&["id"]).unwrap();
        writer.row(["1"]).unwrap();
        assert!(!writer.is_full(2).unwrap());
        writer.row(["2"]).unwrap();
        assert!(writer.is_full(2).unwrap());
        assert_eq!(list(["a", "=b", "＋c"]), "a;'=b;'＋c");
    }

    #[test]
    fn the_budget_counts_the_text_as_the_runtime_sends_it() {
        let mut writer = CsvWriter::new(&["quotes"]).unwrap();
        let quotes = "\"".repeat(1000);
        while !writer.is_full(usize::MAX).unwrap() {
            writer.row([quotes.as_str()]).unwrap();
        }
        let page = writer.finish(None).unwrap();
        // A row is 2,004 bytes of CSV and twice that as a JSON string.
        let sent = serde_json::to_string(&page.text).unwrap().len();
        assert!(sent >= BYTE_BUDGET, "{sent}");
        assert!(sent < BYTE_BUDGET + 4_100, "{sent}");
    }
}
