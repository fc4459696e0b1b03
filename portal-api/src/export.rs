//! CSV and XLSX exports, written as they stream: rows go out page by page, so a 100,000-row export holds one page
//! in memory, never the file.
//!
//! XLSX is a ZIP of a few XML parts. The sheet is deflated entry by entry into a ZIP written front to back (sizes
//! and CRCs in data descriptors after each entry, the central directory at the end), which spreadsheet programs
//! read like any other workbook.

use std::io::Write;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::DeflateEncoder;

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

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(value: Option<T>) -> Self {
        value.map_or(Cell::Empty, Into::into)
    }
}

/// Writes rows; [`Exporter::take`] hands over what is ready to send.
pub struct Exporter {
    format: Format,
    out: Vec<u8>,
    zip: Option<ZipState>,
}

const SHEET_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>";
const SHEET_TAIL: &str = "</sheetData></worksheet>";

impl Exporter {
    pub fn new(format: Format, sheet: &str, header: &[&str]) -> Self {
        let mut exporter = Self { format, out: Vec::with_capacity(64 * 1024), zip: None };
        if format == Format::Xlsx {
            let mut zip = ZipState::default();
            for (name, body) in workbook_parts(sheet) {
                zip.stored_entry(&mut exporter.out, name, body.as_bytes());
            }
            zip.begin(&mut exporter.out, "xl/worksheets/sheet1.xml");
            exporter.zip = Some(zip);
            exporter.write_sheet(SHEET_HEAD.as_bytes());
        } else {
            // A byte-order mark, so spreadsheet programs read the file as UTF-8.
            exporter.out.extend_from_slice("\u{feff}".as_bytes());
        }
        let header: Vec<Cell> = header.iter().map(|h| Cell::Text((*h).to_string())).collect();
        exporter.row(&header);
        exporter
    }

    fn write_sheet(&mut self, data: &[u8]) {
        if let Some(zip) = &mut self.zip {
            zip.write(&mut self.out, data);
        }
    }

    pub fn row(&mut self, cells: &[Cell]) {
        match self.format {
            Format::Csv => {
                for (i, cell) in cells.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    csv_cell(&mut self.out, cell);
                }
                self.out.extend_from_slice(b"\r\n");
            }
            Format::Xlsx => {
                let mut xml = String::with_capacity(32 * cells.len() + 16);
                xml.push_str("<row>");
                for cell in cells {
                    match cell {
                        Cell::Text(text) => {
                            xml.push_str("<c t=\"inlineStr\"><is><t xml:space=\"preserve\">");
                            xml_escape(&mut xml, text);
                            xml.push_str("</t></is></c>");
                        }
                        Cell::Int(n) => xml.push_str(&format!("<c><v>{n}</v></c>")),
                        Cell::Num(n) if n.is_finite() => xml.push_str(&format!("<c><v>{n}</v></c>")),
                        Cell::Num(_) | Cell::Empty => xml.push_str("<c/>"),
                    }
                }
                xml.push_str("</row>");
                self.write_sheet(xml.as_bytes());
            }
        }
    }

    /// Bytes ready to send.
    pub fn take(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.out))
    }

    /// The rest of the file.
    pub fn finish(mut self) -> Bytes {
        if self.zip.is_some() {
            self.write_sheet(SHEET_TAIL.as_bytes());
            if let Some(mut zip) = self.zip.take() {
                zip.end(&mut self.out);
                zip.central_directory(&mut self.out);
            }
        }
        self.take()
    }
}

fn csv_cell(out: &mut Vec<u8>, cell: &Cell) {
    match cell {
        Cell::Text(text) => {
            // A leading =, +, - or @ would make a spreadsheet evaluate the cell as a formula (CSV injection).
            let guarded = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
            let quote = guarded || text.contains([',', '"', '\n', '\r']);
            if quote {
                out.push(b'"');
            }
            if guarded {
                out.push(b'\'');
            }
            for b in text.bytes() {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            if quote {
                out.push(b'"');
            }
        }
        Cell::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Cell::Num(n) if n.is_finite() => out.extend_from_slice(n.to_string().as_bytes()),
        Cell::Num(_) | Cell::Empty => {}
    }
}

fn xml_escape(out: &mut String, text: &str) {
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

fn workbook_parts(sheet: &str) -> Vec<(&'static str, String)> {
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
             ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/></Types>"
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
             Target=\"worksheets/sheet1.xml\"/></Relationships>"
                .to_string(),
        ),
    ]
}

struct Entry {
    name: &'static str,
    offset: u64,
    crc: u32,
    compressed: u64,
    size: u64,
    method: u16,
    descriptor: bool,
}

/// A ZIP written front to back.
#[derive(Default)]
struct ZipState {
    offset: u64,
    entries: Vec<Entry>,
    open: Option<OpenEntry>,
}

struct OpenEntry {
    encoder: DeflateEncoder<Vec<u8>>,
    crc: crc32fast::Hasher,
    size: u64,
    compressed: u64,
}

// 1980-01-01 00:00 in MS-DOS form.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;

impl ZipState {
    fn emit(&mut self, out: &mut Vec<u8>, data: &[u8]) {
        out.extend_from_slice(data);
        self.offset += data.len() as u64;
    }

    fn local_header(&mut self, out: &mut Vec<u8>, entry: &Entry) {
        let mut h = Vec::with_capacity(30 + entry.name.len());
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&20u16.to_le_bytes());
        h.extend_from_slice(&(if entry.descriptor { 0x0808u16 } else { 0x0800u16 }).to_le_bytes());
        h.extend_from_slice(&entry.method.to_le_bytes());
        h.extend_from_slice(&DOS_TIME.to_le_bytes());
        h.extend_from_slice(&DOS_DATE.to_le_bytes());
        h.extend_from_slice(&entry.crc.to_le_bytes());
        h.extend_from_slice(&(entry.compressed as u32).to_le_bytes());
        h.extend_from_slice(&(entry.size as u32).to_le_bytes());
        h.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(entry.name.as_bytes());
        self.emit(out, &h);
    }

    /// A small entry known in full: stored uncompressed, sizes in its header.
    fn stored_entry(&mut self, out: &mut Vec<u8>, name: &'static str, data: &[u8]) {
        let entry = Entry {
            name,
            offset: self.offset,
            crc: crc32fast::hash(data),
            compressed: data.len() as u64,
            size: data.len() as u64,
            method: 0,
            descriptor: false,
        };
        self.local_header(out, &entry);
        self.emit(out, data);
        self.entries.push(entry);
    }

    /// Starts a deflated entry whose size is known only at its end.
    fn begin(&mut self, out: &mut Vec<u8>, name: &'static str) {
        let entry = Entry { name, offset: self.offset, crc: 0, compressed: 0, size: 0, method: 8, descriptor: true };
        self.local_header(out, &entry);
        self.entries.push(entry);
        self.open = Some(OpenEntry {
            encoder: DeflateEncoder::new(Vec::new(), Compression::fast()),
            crc: crc32fast::Hasher::new(),
            size: 0,
            compressed: 0,
        });
    }

    fn write(&mut self, out: &mut Vec<u8>, data: &[u8]) {
        let Some(open) = &mut self.open else { return };
        open.crc.update(data);
        open.size += data.len() as u64;
        // Writing into a Vec cannot fail.
        let _ = open.encoder.write_all(data);
        let ready = std::mem::take(open.encoder.get_mut());
        open.compressed += ready.len() as u64;
        self.emit(out, &ready);
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else { return };
        let rest = open.encoder.finish().unwrap_or_default();
        let compressed = open.compressed + rest.len() as u64;
        self.emit(out, &rest);
        let crc = open.crc.finalize();
        let mut d = Vec::with_capacity(16);
        d.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
        d.extend_from_slice(&crc.to_le_bytes());
        d.extend_from_slice(&(compressed as u32).to_le_bytes());
        d.extend_from_slice(&(open.size as u32).to_le_bytes());
        self.emit(out, &d);
        if let Some(entry) = self.entries.last_mut() {
            entry.crc = crc;
            entry.compressed = compressed;
            entry.size = open.size;
        }
    }

    fn central_directory(&mut self, out: &mut Vec<u8>) {
        let start = self.offset;
        let mut dir = Vec::new();
        for e in &self.entries {
            dir.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            dir.extend_from_slice(&20u16.to_le_bytes());
            dir.extend_from_slice(&20u16.to_le_bytes());
            dir.extend_from_slice(&(if e.descriptor { 0x0808u16 } else { 0x0800u16 }).to_le_bytes());
            dir.extend_from_slice(&e.method.to_le_bytes());
            dir.extend_from_slice(&DOS_TIME.to_le_bytes());
            dir.extend_from_slice(&DOS_DATE.to_le_bytes());
            dir.extend_from_slice(&e.crc.to_le_bytes());
            dir.extend_from_slice(&(e.compressed as u32).to_le_bytes());
            dir.extend_from_slice(&(e.size as u32).to_le_bytes());
            dir.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            dir.extend_from_slice(&[0; 8]); // extra, comment, disk number, internal attributes
            dir.extend_from_slice(&0u32.to_le_bytes()); // external attributes
            dir.extend_from_slice(&(e.offset as u32).to_le_bytes());
            dir.extend_from_slice(e.name.as_bytes());
        }
        let size = dir.len() as u64;
        self.emit(out, &dir);
        let count = self.entries.len() as u16;
        let mut end = Vec::with_capacity(22);
        end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        end.extend_from_slice(&[0; 4]);
        end.extend_from_slice(&count.to_le_bytes());
        end.extend_from_slice(&count.to_le_bytes());
        end.extend_from_slice(&(size as u32).to_le_bytes());
        end.extend_from_slice(&(start as u32).to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        self.emit(out, &end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_guards_formulas() {
        let mut e = Exporter::new(Format::Csv, "t", &["a", "b", "c"]);
        e.row(&[Cell::from("x,y"), Cell::from("=SUM(A1)"), Cell::Int(3)]);
        e.row(&[Cell::from("say \"hi\""), Cell::Empty, Cell::Num(1.5)]);
        let text = String::from_utf8(e.finish().to_vec()).unwrap_or_default();
        assert_eq!(text, "\u{feff}a,b,c\r\n\"x,y\",\"'=SUM(A1)\",3\r\n\"say \"\"hi\"\"\",,1.5\r\n");
    }

    #[test]
    fn xlsx_is_a_zip_whose_directory_points_at_each_entry() {
        let mut e = Exporter::new(Format::Xlsx, "users", &["id"]);
        let mut bytes = e.take().to_vec();
        for i in 0..5_000 {
            e.row(&[Cell::Text(format!("user <{i}> & co"))]);
            bytes.extend_from_slice(&e.take());
        }
        bytes.extend_from_slice(&e.finish());
        let eocd = bytes.len() - 22;
        assert_eq!(&bytes[eocd..eocd + 4], &0x0605_4b50u32.to_le_bytes());
        let entries = u16::from_le_bytes([bytes[eocd + 10], bytes[eocd + 11]]);
        assert_eq!(entries, 5);
        let dir = u32::from_le_bytes([bytes[eocd + 16], bytes[eocd + 17], bytes[eocd + 18], bytes[eocd + 19]]) as usize;
        let mut at = dir;
        let mut sheet = 0;
        for _ in 0..entries {
            assert_eq!(&bytes[at..at + 4], &0x0201_4b50u32.to_le_bytes());
            let name_len = u16::from_le_bytes([bytes[at + 28], bytes[at + 29]]) as usize;
            let offset = u32::from_le_bytes([bytes[at + 42], bytes[at + 43], bytes[at + 44], bytes[at + 45]]) as usize;
            assert_eq!(&bytes[offset..offset + 4], &0x0403_4b50u32.to_le_bytes());
            if &bytes[at + 46..at + 46 + name_len] == b"xl/worksheets/sheet1.xml" {
                sheet = offset + 30 + name_len;
            }
            at += 46 + name_len;
        }
        // The sheet inflates to the rows written.
        assert!(sheet > 0, "the directory names the sheet");
        let mut inflated = String::new();
        let mut decoder = flate2::read::DeflateDecoder::new(&bytes[sheet..]);
        std::io::Read::read_to_string(&mut decoder, &mut inflated).unwrap_or_default();
        assert!(inflated.ends_with("</sheetData></worksheet>"), "{}", &inflated[inflated.len().saturating_sub(80)..]);
        assert!(inflated.contains("<t xml:space=\"preserve\">user &lt;4999&gt; &amp; co</t>"));
    }
}
