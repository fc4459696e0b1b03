//! The Teams user activity report: downloaded as CSV, cut into chunks that each start with the header line, and
//! checked for concealed names (32-character hex pseudonyms instead of user principal names).

/// Cuts the report into chunks of at most `rows` data lines, each prefixed with the header.
pub struct Chunker {
    header: Option<String>,
    rows: Vec<String>,
    per_chunk: usize,
    upn_column: Option<usize>,
    upns_seen: u64,
    upns_concealed: u64,
}

/// A chunk ready to publish.
pub struct Chunk {
    pub csv: String,
    pub rows: u32,
}

impl Chunker {
    pub fn new(per_chunk: usize) -> Self {
        Self {
            header: None,
            rows: Vec::new(),
            per_chunk: per_chunk.max(1),
            upn_column: None,
            upns_seen: 0,
            upns_concealed: 0,
        }
    }

    /// Feeds one line (without its line ending); returns a chunk when one is full.
    pub fn push(&mut self, line: &str) -> Option<Chunk> {
        let line = line.trim_end_matches('\r');
        if self.header.is_none() {
            let header = line.trim_start_matches('\u{feff}').to_string();
            self.upn_column = fields(&header).iter().position(|f| f == "User Principal Name");
            self.header = Some(header);
            return None;
        }
        if line.is_empty() {
            return None;
        }
        if let Some(column) = self.upn_column
            && let Some(upn) = fields(line).get(column).filter(|u| !u.is_empty())
        {
            self.upns_seen += 1;
            if is_pseudonym(upn) {
                self.upns_concealed += 1;
            }
        }
        self.rows.push(line.to_string());
        (self.rows.len() >= self.per_chunk).then(|| self.take())
    }

    /// The last, partial chunk.
    pub fn finish(&mut self) -> Option<Chunk> {
        (!self.rows.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> Chunk {
        let rows = std::mem::take(&mut self.rows);
        let mut csv = String::with_capacity(rows.iter().map(|r| r.len() + 1).sum::<usize>() + 512);
        csv.push_str(self.header.as_deref().unwrap_or_default());
        csv.push('\n');
        for row in &rows {
            csv.push_str(row);
            csv.push('\n');
        }
        Chunk { csv, rows: u32::try_from(rows.len()).unwrap_or(u32::MAX) }
    }

    pub fn has_header(&self) -> bool {
        self.header.is_some()
    }

    /// Whether the report hides names: every user principal name is a pseudonym (unknown for an empty report).
    pub fn concealed(&self) -> Option<bool> {
        (self.upns_seen > 0).then_some(self.upns_concealed == self.upns_seen)
    }
}

/// Splits one CSV line into fields (quotes handled; the report has no line breaks inside fields).
fn fields(line: &str) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(line.as_bytes());
    reader.records().next().and_then(Result::ok).map(|r| r.iter().map(String::from).collect()).unwrap_or_default()
}

/// Microsoft's concealed names: 32 hexadecimal characters, no `@`.
pub fn is_pseudonym(value: &str) -> bool {
    value.len() == 32 && value.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_repeat_the_header_and_hold_at_most_n_rows() {
        let mut chunker = Chunker::new(2);
        assert!(chunker.push("\u{feff}Report Refresh Date,User Principal Name").is_none());
        assert!(chunker.push("2026-11-24,a@x.example").is_none());
        let first = chunker.push("2026-11-24,\"b,c\"@x.example\r").unwrap();
        assert_eq!(first.rows, 2);
        assert_eq!(
            first.csv,
            "Report Refresh Date,User Principal Name\n2026-11-24,a@x.example\n2026-11-24,\"b,c\"@x.example\n"
        );
        assert!(chunker.push("2026-11-24,c@x.example").is_none());
        let last = chunker.finish().unwrap();
        assert_eq!(last.rows, 1);
        assert!(last.csv.starts_with("Report Refresh Date,"));
        assert_eq!(chunker.concealed(), Some(false));
    }

    #[test]
    fn concealed_names_are_detected() {
        let mut chunker = Chunker::new(10);
        chunker.push("User Id,User Principal Name");
        chunker.push("1,FE7CC8C15246EDCCA289C9A4022762F7");
        chunker.push("2,0A1B2C3D4E5F60718293A4B5C6D7E8F9");
        assert_eq!(chunker.concealed(), Some(true));
        assert_eq!(Chunker::new(1).concealed(), None);
    }
}
