//! SpreadsheetML for the streamed workbook: the fixed parts, one sheet written row by row, and the styles that
//! make dates dates and money money. Styles are known only when the last row is written (each currency met gets
//! a number format), so `xl/styles.xml` is the archive's last entry.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::Cell;
use super::zip::ZipWriter;

/// Excel keeps at most this many characters (UTF-16 code units) in a cell.
pub const CELL_MAX: usize = 32_767;

const SHEET: &str = "xl/worksheets/sheet1.xml";
const SHEET_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>";
const SHEET_TAIL: &str = "</sheetData></worksheet>";

/// Cell styles (`cellXfs` indexes): 0 is the default; dates and date-times have their own; each currency after.
const STYLE_DATE: usize = 1;
const STYLE_TIME: usize = 2;
const STYLE_FIRST_CURRENCY: usize = 3;
/// Custom number formats start at 164 (lower ids are built in).
const FORMAT_DATE: usize = 164;
const FORMAT_TIME: usize = 165;
const FORMAT_FIRST_CURRENCY: usize = 166;

/// A workbook of one sheet, written into `out` as rows come.
pub struct Workbook {
    zip: ZipWriter,
    /// Currencies met so far, in order of their styles.
    currencies: Vec<String>,
}

impl Workbook {
    pub fn start(out: &mut Vec<u8>, sheet: &str, mut zip: ZipWriter) -> Self {
        for (name, body) in fixed_parts(sheet) {
            zip.stored_entry(out, name, body.as_bytes());
        }
        zip.begin(out, SHEET);
        zip.write(out, SHEET_HEAD.as_bytes());
        Self { zip, currencies: Vec::new() }
    }

    pub fn row(&mut self, out: &mut Vec<u8>, cells: &[Cell]) {
        let mut xml = String::with_capacity(32 * cells.len() + 16);
        xml.push_str("<row>");
        for cell in cells {
            self.cell(&mut xml, cell);
        }
        xml.push_str("</row>");
        self.zip.write(out, xml.as_bytes());
    }

    fn currency_style(&mut self, currency: &str) -> usize {
        let at = match self.currencies.iter().position(|c| c == currency) {
            Some(at) => at,
            None => {
                self.currencies.push(currency.to_string());
                self.currencies.len() - 1
            }
        };
        STYLE_FIRST_CURRENCY + at
    }

    fn cell(&mut self, xml: &mut String, cell: &Cell) {
        // Writing into a String cannot fail.
        let _ = match cell {
            Cell::Text(text) => {
                xml.push_str("<c t=\"inlineStr\"><is><t xml:space=\"preserve\">");
                xml_escape(xml, &fit_cell(text));
                xml.push_str("</t></is></c>");
                Ok(())
            }
            Cell::Int(n) => write!(xml, "<c><v>{n}</v></c>"),
            Cell::Num(n) if n.is_finite() => write!(xml, "<c><v>{n}</v></c>"),
            Cell::Bool(b) => write!(xml, "<c t=\"b\"><v>{}</v></c>", u8::from(*b)),
            Cell::Date(day) => write!(xml, "<c s=\"{STYLE_DATE}\"><v>{}</v></c>", serial_day(*day)),
            Cell::Time(at) => write!(xml, "<c s=\"{STYLE_TIME}\"><v>{}</v></c>", serial_time(*at)),
            Cell::Money { amount_minor, currency } => {
                let style = self.currency_style(currency);
                write!(xml, "<c s=\"{style}\"><v>{}</v></c>", super::major_units(*amount_minor, currency))
            }
            Cell::Num(_) | Cell::Empty => {
                xml.push_str("<c/>");
                Ok(())
            }
        };
    }

    /// The sheet's end, the styles and the central directory.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        self.zip.write(out, SHEET_TAIL.as_bytes());
        self.zip.end(out);
        let styles = styles(&self.currencies);
        self.zip.stored_entry(out, "xl/styles.xml", styles.as_bytes());
        self.zip.central_directory(out);
    }
}

/// Text that fits one cell: longer text is cut, and says so at its end.
pub fn fit_cell(text: &str) -> Cow<'_, str> {
    // A UTF-8 string has at least as many bytes as UTF-16 code units.
    if text.len() <= CELL_MAX {
        return Cow::Borrowed(text);
    }
    let units = text.encode_utf16().count();
    if units <= CELL_MAX {
        return Cow::Borrowed(text);
    }
    let marker = format!("…[truncated from {units} characters]");
    let budget = CELL_MAX - marker.encode_utf16().count();
    let (mut used, mut end) = (0, 0);
    for (at, c) in text.char_indices() {
        if used + c.len_utf16() > budget {
            break;
        }
        used += c.len_utf16();
        end = at + c.len_utf8();
    }
    Cow::Owned(format!("{}{marker}", &text[..end]))
}

/// Days since Excel's epoch (1899-12-30 in the 1900 date system; right for every day since March 1900).
fn serial_day(day: NaiveDate) -> i64 {
    // 1899-12-30 is day 693,594 of the common era.
    i64::from(day.num_days_from_ce()) - 693_594
}

/// A UTC instant as a day serial with the time of day as its fraction.
fn serial_time(at: DateTime<Utc>) -> f64 {
    // 1970-01-01 is serial 25,569.
    25_569.0 + at.timestamp() as f64 / 86_400.0 + f64::from(at.timestamp_subsec_micros()) / 86_400_000_000.0
}

pub fn xml_escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

/// A number format showing an amount with its currency's decimals and code, e.g. `#,##0.00 "USD"`.
fn currency_format(currency: &str) -> String {
    let code: String = currency.chars().filter(char::is_ascii_alphanumeric).take(8).collect();
    let digits = sua_domain::money::minor_unit_digits(currency) as usize;
    let decimals = if digits == 0 { String::new() } else { format!(".{}", "0".repeat(digits)) };
    format!("#,##0{decimals} \"{code}\"")
}

fn styles(currencies: &[String]) -> String {
    let mut formats = format!(
        "<numFmt numFmtId=\"{FORMAT_DATE}\" formatCode=\"yyyy-mm-dd\"/>\
         <numFmt numFmtId=\"{FORMAT_TIME}\" formatCode=\"yyyy-mm-dd hh:mm:ss\"/>"
    );
    let mut xfs = format!(
        "<xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/>\
         <xf numFmtId=\"{FORMAT_DATE}\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyNumberFormat=\"1\"/>\
         <xf numFmtId=\"{FORMAT_TIME}\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyNumberFormat=\"1\"/>"
    );
    for (i, currency) in currencies.iter().enumerate() {
        let id = FORMAT_FIRST_CURRENCY + i;
        formats.push_str(&format!("<numFmt numFmtId=\"{id}\" formatCode=\""));
        xml_escape(&mut formats, &currency_format(currency));
        formats.push_str("\"/>");
        xfs.push_str(&format!(
            "<xf numFmtId=\"{id}\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyNumberFormat=\"1\"/>"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <styleSheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">\
         <numFmts count=\"{}\">{formats}</numFmts>\
         <fonts count=\"1\"><font><sz val=\"11\"/><name val=\"Calibri\"/></font></fonts>\
         <fills count=\"2\"><fill><patternFill patternType=\"none\"/></fill>\
         <fill><patternFill patternType=\"gray125\"/></fill></fills>\
         <borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
         <cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs>\
         <cellXfs count=\"{}\">{xfs}</cellXfs>\
         <cellStyles count=\"1\"><cellStyle name=\"Normal\" xfId=\"0\" builtinId=\"0\"/></cellStyles>\
         </styleSheet>",
        2 + currencies.len(),
        STYLE_FIRST_CURRENCY + currencies.len(),
    )
}

fn fixed_parts(sheet: &str) -> Vec<(&'static str, String)> {
    let mut name = String::new();
    // Sheet names: at most 31 characters, none of []:*?/\.
    xml_escape(&mut name, &sheet.chars().filter(|c| !"[]:*?/\\".contains(*c)).take(31).collect::<String>());
    vec![
        (
            "[Content_Types].xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
             <Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
             <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
             <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
             <Override PartName=\"/xl/workbook.xml\" \
             ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>\
             <Override PartName=\"/xl/worksheets/sheet1.xml\" \
             ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>\
             <Override PartName=\"/xl/styles.xml\" \
             ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml\"/></Types>"
                .to_string(),
        ),
        (
            "_rels/.rels",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
             <Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
             <Relationship Id=\"rId1\" \
             Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" \
             Target=\"xl/workbook.xml\"/></Relationships>"
                .to_string(),
        ),
        (
            "xl/workbook.xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
                 <workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" \
                 xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">\
                 <sheets><sheet name=\"{name}\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"
            ),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
             <Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
             <Relationship Id=\"rId1\" \
             Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" \
             Target=\"worksheets/sheet1.xml\"/>\
             <Relationship Id=\"rId2\" \
             Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles\" \
             Target=\"styles.xml\"/></Relationships>"
                .to_string(),
        ),
    ]
}
