//! CSV and XLSX exports, written as they stream: rows go out page by page, so a 100,000-row export holds one page
//! in memory, never the file.
//!
//! CSV goes through the `csv` crate (RFC 4180 quoting, CRLF) with a guard against formula injection. XLSX is a
//! ZIP of a few XML parts ([`xlsx`], [`zip`]) with typed cells: dates are dates, money is a number in a currency
//! format, booleans are booleans.

pub mod xlsx;
pub mod zip;

use std::borrow::Cow;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Num(f64),
    Bool(bool),
    /// A calendar day.
    Date(NaiveDate),
    /// An instant, shown in UTC.
    Time(DateTime<Utc>),
    /// An amount in minor units of an ISO 4217 currency; shown in major units with the currency.
    Money {
        amount_minor: i64,
        currency: String,
    },
    Empty,
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_string())
    }
}

impl From<i64> for Cell {
    fn from(n: i64) -> Self {
        Cell::Int(n)
    }
}

impl From<f64> for Cell {
    fn from(n: f64) -> Self {
        Cell::Num(n)
    }
}

impl From<bool> for Cell {
    fn from(b: bool) -> Self {
        Cell::Bool(b)
    }
}

impl From<NaiveDate> for Cell {
    fn from(day: NaiveDate) -> Self {
        Cell::Date(day)
    }
}

impl From<DateTime<Utc>> for Cell {
    fn from(at: DateTime<Utc>) -> Self {
        Cell::Time(at)
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(value: Option<T>) -> Self {
        value.map_or(Cell::Empty, Into::into)
    }
}

/// An amount in minor units written in major units, exactly (`3600` USD → `36.00`, `120` JPY → `120`).
pub fn major_units(amount_minor: i64, currency: &str) -> String {
    let digits = sua_domain::money::minor_unit_digits(currency) as usize;
    let sign = if amount_minor < 0 { "-" } else { "" };
    let magnitude = amount_minor.unsigned_abs().to_string();
    if digits == 0 {
        return format!("{sign}{magnitude}");
    }
    let padded = format!("{magnitude:0>width$}", width = digits + 1);
    let (whole, fraction) = padded.split_at(padded.len() - digits);
    format!("{sign}{whole}.{fraction}")
}

enum Sink {
    Csv(csv::Writer<Vec<u8>>),
    Xlsx(xlsx::Workbook, Vec<u8>),
}

/// Writes rows; [`Exporter::take`] hands over what is ready to send.
pub struct Exporter {
    sink: Sink,
}

impl Exporter {
    pub fn new(format: Format, sheet: &str, header: &[&str]) -> Self {
        Self::with_zip(format, sheet, header, zip::ZipWriter::default())
    }

    /// As [`Exporter::new`], the workbook written by `zip` (tests lower its ZIP64 threshold).
    pub fn with_zip(format: Format, sheet: &str, header: &[&str], zip: zip::ZipWriter) -> Self {
        let sink = match format {
            Format::Xlsx => {
                let mut out = Vec::with_capacity(64 * 1024);
                let book = xlsx::Workbook::start(&mut out, sheet, zip);
                Sink::Xlsx(book, out)
            }
            Format::Csv => {
                // A byte-order mark, so spreadsheet programs read the file as UTF-8.
                Sink::Csv(csv_writer("\u{feff}".as_bytes().to_vec()))
            }
        };
        let mut exporter = Self { sink };
        let header: Vec<Cell> = header.iter().map(|h| Cell::Text((*h).to_string())).collect();
        exporter.row(&header);
        exporter
    }

    pub fn row(&mut self, cells: &[Cell]) {
        match &mut self.sink {
            Sink::Csv(writer) => {
                let fields: Vec<Cow<'_, str>> = cells.iter().map(csv_field).collect();
                // Writing into a Vec cannot fail.
                let _ = writer.write_record(fields.iter().map(|f| f.as_bytes()));
            }
            Sink::Xlsx(book, out) => book.row(out, cells),
        }
    }

    /// Bytes ready to send.
    pub fn take(&mut self) -> Bytes {
        match &mut self.sink {
            // Records end where a writer ends: a fresh one continues with the next.
            Sink::Csv(writer) => csv_bytes(std::mem::replace(writer, csv_writer(Vec::new()))),
            Sink::Xlsx(_, out) => Bytes::from(std::mem::take(out)),
        }
    }

    /// The rest of the file.
    pub fn finish(self) -> Bytes {
        match self.sink {
            Sink::Csv(writer) => csv_bytes(writer),
            Sink::Xlsx(book, mut out) => {
                book.finish(&mut out);
                Bytes::from(out)
            }
        }
    }
}

/// RFC 4180 records ending in CRLF, written into `into`.
fn csv_writer(into: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(into)
}

/// Everything a writer holds (writing into a Vec cannot fail).
fn csv_bytes(writer: csv::Writer<Vec<u8>>) -> Bytes {
    Bytes::from(writer.into_inner().unwrap_or_default())
}

/// A cell as CSV text: ISO 8601 dates and instants, money in major units (its currency is a column of its own),
/// `true`/`false`. Text that a spreadsheet would evaluate as a formula (a leading `=`, `+`, `-`, `@`, tab or
/// carriage return: CSV injection) is prefixed with `'`.
fn csv_field(cell: &Cell) -> Cow<'_, str> {
    match cell {
        Cell::Text(text) if text.starts_with(['=', '+', '-', '@', '\t', '\r']) => Cow::Owned(format!("'{text}")),
        Cell::Text(text) => Cow::Borrowed(text),
        Cell::Int(n) => Cow::Owned(n.to_string()),
        Cell::Num(n) if n.is_finite() => Cow::Owned(n.to_string()),
        Cell::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Cell::Date(day) => Cow::Owned(day.to_string()),
        Cell::Time(at) => Cow::Owned(at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        Cell::Money { amount_minor, currency } => Cow::Owned(major_units(*amount_minor, currency)),
        Cell::Num(_) | Cell::Empty => Cow::Borrowed(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn usd(amount_minor: i64) -> Cell {
        Cell::Money { amount_minor, currency: "USD".into() }
    }

    /// Runs `script` with Python on the bytes written to a file (`sys.argv[1]`): an independent ZIP and XML reader.
    fn python(script: &str, bytes: &[u8]) -> String {
        let dir = std::env::temp_dir().join(format!("sua-export-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("export.xlsx");
        std::fs::write(&path, bytes).unwrap();
        let output = std::process::Command::new("python3").arg("-c").arg(script).arg(&path).output().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(output.status.success(), "python: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    fn workbook(zip: zip::ZipWriter, rows: usize) -> Vec<u8> {
        let mut e = Exporter::with_zip(Format::Xlsx, "users", &["id", "n"], zip);
        let mut bytes = e.take().to_vec();
        for i in 0..rows {
            e.row(&[Cell::Text(format!("user <{i}> & co")), Cell::Int(i as i64)]);
            bytes.extend_from_slice(&e.take());
        }
        bytes.extend_from_slice(&e.finish());
        bytes
    }

    const READ_SHEET: &str = "import sys, zipfile, xml.etree.ElementTree as ET\n\
        z = zipfile.ZipFile(sys.argv[1])\n\
        assert z.testzip() is None\n\
        ns = '{http://schemas.openxmlformats.org/spreadsheetml/2006/main}'\n\
        rows = ET.fromstring(z.read('xl/worksheets/sheet1.xml')).find(ns + 'sheetData').findall(ns + 'row')\n\
        last = rows[-1].findall(ns + 'c')\n\
        print(len(z.infolist()), len(rows), last[0].find(ns + 'is').find(ns + 't').text, last[1].find(ns + 'v').text)\n";

    #[test]
    fn csv_is_written_by_the_csv_crate_with_formulas_guarded_and_typed_values_plain() {
        let mut e = Exporter::new(Format::Csv, "t", &["a", "b", "c", "d"]);
        e.row(&[Cell::from("x,y"), Cell::from("=SUM(A1)"), Cell::Int(3), Cell::from("-2+3")]);
        e.row(&[Cell::from("say \"hi\"\r\nbye"), Cell::Empty, Cell::Num(1.5), Cell::from("@cmd")]);
        e.row(&[
            usd(3600),
            Cell::Money { amount_minor: -120, currency: "JPY".into() },
            Cell::Bool(true),
            day(2026, 11, 30).into(),
        ]);
        let at = day(2026, 11, 30).and_hms_opt(9, 5, 0).unwrap().and_utc();
        e.row(&[at.into(), Cell::Money { amount_minor: 5, currency: "KWD".into() }, Cell::Bool(false), Cell::Empty]);
        let text = String::from_utf8(e.finish().to_vec()).unwrap();
        assert_eq!(
            text,
            "\u{feff}a,b,c,d\r\n\"x,y\",'=SUM(A1),3,'-2+3\r\n\"say \"\"hi\"\"\r\nbye\",,1.5,'@cmd\r\n\
             36.00,-120,true,2026-11-30\r\n2026-11-30T09:05:00Z,0.005,false,\r\n"
        );
    }

    #[test]
    fn money_in_major_units_is_exact_for_every_minor_unit() {
        assert_eq!(major_units(3600, "USD"), "36.00");
        assert_eq!(major_units(5, "EUR"), "0.05");
        assert_eq!(major_units(-105, "EUR"), "-1.05");
        assert_eq!(major_units(120, "JPY"), "120");
        assert_eq!(major_units(12_345, "KWD"), "12.345");
        assert_eq!(major_units(i64::MIN, "USD"), "-92233720368547758.08");
    }

    #[test]
    fn a_small_workbook_is_a_classic_zip_that_an_independent_reader_opens() {
        let bytes = workbook(zip::ZipWriter::default(), 5_000);
        assert!(!bytes.windows(4).any(|w| w == 0x0606_4b50u32.to_le_bytes()), "no ZIP64 end record");
        assert_eq!(python(READ_SHEET, &bytes).trim(), "6 5001 user <4999> & co 4999");
    }

    #[test]
    fn sizes_and_offsets_past_the_zip64_threshold_are_written_as_zip64_and_read_back() {
        // The threshold lowered from 4 GiB to 1,000 bytes: the sheet's sizes, the offsets of the entries after it
        // and of the central directory need ZIP64 fields, the first entries do not.
        let bytes = workbook(zip::ZipWriter::with_limit(1_000), 20_000);
        assert!(bytes.len() > 100_000);
        let script = format!(
            "{READ_SHEET}\
             for i in z.infolist():\n    print(i.filename, i.header_offset, i.file_size, i.compress_size)\n\
             print('zip64' if open(sys.argv[1], 'rb').read()[-98:-94] == b'PK\\x06\\x06' else 'classic')\n"
        );
        let out = python(&script, &bytes);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "6 20001 user <19999> & co 19999");
        let sheet: Vec<u64> = lines[5]
            .strip_prefix("xl/worksheets/sheet1.xml ")
            .unwrap()
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect();
        assert!(sheet[1] > 1_000 && sheet[2] > 1_000, "the sheet's sizes went to ZIP64 fields: {sheet:?}");
        let styles: Vec<u64> =
            lines[6].strip_prefix("xl/styles.xml ").unwrap().split(' ').map(|n| n.parse().unwrap()).collect();
        assert!(styles[0] > 1_000, "the styles' offset went to a ZIP64 field: {styles:?}");
        assert_eq!(lines[7], "zip64", "a ZIP64 end record and locator precede the classic end record");
        // Every field in ZIP64 form, the classic ones all markers.
        let bytes = workbook(zip::ZipWriter::with_limit(0), 10);
        assert_eq!(python(READ_SHEET, &bytes).trim(), "6 11 user <9> & co 9");
    }

    #[test]
    fn cells_are_typed_and_styled_and_long_text_is_cut_with_a_marker() {
        let mut e = Exporter::new(Format::Xlsx, "types", &["day", "at", "cost", "yen", "enabled", "note"]);
        let at = day(2026, 11, 30).and_hms_opt(12, 0, 0).unwrap().and_utc();
        let long = "é".repeat(20_000) + &"x".repeat(20_000);
        e.row(&[
            day(2026, 11, 30).into(),
            at.into(),
            usd(3600),
            Cell::Money { amount_minor: 120, currency: "JPY".into() },
            Cell::Bool(true),
            Cell::Text(long),
        ]);
        let mut bytes = e.take().to_vec();
        bytes.extend_from_slice(&e.finish());
        let script = "import sys, zipfile, xml.etree.ElementTree as ET\n\
            z = zipfile.ZipFile(sys.argv[1])\n\
            ns = '{http://schemas.openxmlformats.org/spreadsheetml/2006/main}'\n\
            styles = ET.fromstring(z.read('xl/styles.xml'))\n\
            fmts = {f.get('numFmtId'): f.get('formatCode') for f in styles.find(ns + 'numFmts')}\n\
            xfs = [x.get('numFmtId') for x in styles.find(ns + 'cellXfs')]\n\
            row = ET.fromstring(z.read('xl/worksheets/sheet1.xml')).find(ns + 'sheetData').findall(ns + 'row')[1]\n\
            for c in row.findall(ns + 'c'):\n\
            \x20   if c.get('t') == 'inlineStr':\n\
            \x20       t = c.find(ns + 'is').find(ns + 't').text\n\
            \x20       print('text', len(t.encode('utf-16-le')) // 2, t[-40:])\n\
            \x20   else:\n\
            \x20       print(c.get('t') or 'n', c.find(ns + 'v').text, fmts.get(xfs[int(c.get('s') or 0)], '-'))\n";
        let out = python(script, &bytes);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "n 46356 yyyy-mm-dd", "2026-11-30 is day 46,356 of Excel's calendar");
        assert_eq!(lines[1], "n 46356.5 yyyy-mm-dd hh:mm:ss");
        assert_eq!(lines[2], "n 36.00 #,##0.00 \"USD\"");
        assert_eq!(lines[3], "n 120 #,##0 \"JPY\"");
        assert_eq!(lines[4], "b 1 -");
        assert!(lines[5].starts_with("text 32767 "), "{}", lines[5]);
        assert!(lines[5].ends_with("xxx…[truncated from 40000 characters]"), "{}", lines[5]);
    }
}
