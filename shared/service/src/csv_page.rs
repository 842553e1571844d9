//! CSV answers for finance: one page of rows at a time, each page a whole file with its
//! header, small enough for one Lambda answer, and safe to open in a spreadsheet.
//!
//! API Gateway's HTTP API takes at most 6 MB from a Lambda, so an export of any size is
//! answered in pages: a page stops at [`MAX_ROWS`] rows or [`BYTE_BUDGET`] bytes, and
//! names where the next one starts (the API turns that into a `Link: rel="next"`
//! header). A client follows the links until there is none (docs/API.md).

use domain::error::{Error, Result};

/// The most rows one page holds (the default: a caller may ask for fewer).
pub const MAX_ROWS: usize = 10_000;

/// A page stops adding rows once it is this long: far enough under the 6 MB answer
/// limit for the last DynamoDB page of rows (1,000 rows of at most ~1 KB) to fit.
pub const BYTE_BUDGET: usize = 4 * 1024 * 1024;

/// One page of a CSV export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvPage {
    /// The header and the rows, RFC 4180, `\r\n` line ends.
    pub text: String,
    pub rows: usize,
    /// Where the next page starts, if there is one: an opaque cursor.
    pub next_cursor: Option<String>,
}

/// Writes the rows of one page.
pub struct CsvWriter {
    writer: csv::Writer<Vec<u8>>,
    rows: usize,
}

impl CsvWriter {
    pub fn new(header: &[&str]) -> Result<Self> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        writer.write_record(header).map_err(Error::store)?;
        Ok(CsvWriter { writer, rows: 0 })
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
    pub fn is_full(&self, max_rows: usize) -> bool {
        self.rows >= max_rows || self.writer.get_ref().len() >= BYTE_BUDGET
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

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab or a return
/// first) gets a leading `'`, as OWASP advises for CSV exports: ids and references come
/// from the marketplace and the gateway, and finance opens these files. Numbers are
/// never negative here, so no number is changed.
fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
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
        writer.row(["-1", ""]).unwrap();
        let page = writer.finish(None).unwrap();
        assert_eq!(page.rows, 3);
        assert_eq!(
            page.text,
            "id,note\r\n\"a,1\",\"'=HYPERLINK(\"\"x\"\")\"\r\n'@SUM(A1),\"plain \"\"quoted\"\"\"\r\n'-1,\r\n"
        );
    }

    #[test]
    fn a_page_is_full_at_its_rows() {
        let mut writer = CsvWriter::new(&["id"]).unwrap();
        writer.row(["1"]).unwrap();
        assert!(!writer.is_full(2));
        writer.row(["2"]).unwrap();
        assert!(writer.is_full(2));
    }
}
