//! The Teams user activity report: downloaded as CSV, read record by record with the `csv` crate (a quoted field
//! may hold a line break, so lines are not records), re-written in chunks that each start with the header record,
//! and checked for concealed names (32-character hex pseudonyms instead of user principal names).

/// Cuts the report into chunks of at most `rows` records, each prefixed with the header.
pub struct Chunker {
    header: Option<csv::ByteRecord>,
    rows: Vec<csv::ByteRecord>,
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

    /// Feeds one record; returns a chunk when one is full.
    pub fn push(&mut self, record: csv::ByteRecord) -> Option<Chunk> {
        if self.header.is_none() {
            let header: csv::ByteRecord = record
                .iter()
                .enumerate()
                .map(
                    |(i, field)| {
                        if i == 0 { field.strip_prefix("\u{feff}".as_bytes()).unwrap_or(field) } else { field }
                    },
                )
                .collect();
            self.upn_column = header.iter().position(|f| f == b"User Principal Name");
            self.header = Some(header);
            return None;
        }
        if record.iter().all(<[u8]>::is_empty) {
            return None;
        }
        if let Some(column) = self.upn_column
            && let Some(upn) = record.get(column).filter(|u| !u.is_empty())
        {
            self.upns_seen += 1;
            if is_pseudonym(&String::from_utf8_lossy(upn)) {
                self.upns_concealed += 1;
            }
        }
        self.rows.push(record);
        (self.rows.len() >= self.per_chunk).then(|| self.take())
    }

    /// The last, partial chunk.
    pub fn finish(&mut self) -> Option<Chunk> {
        (!self.rows.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> Chunk {
        let rows = std::mem::take(&mut self.rows);
        let mut writer = csv::WriterBuilder::new().flexible(true).terminator(csv::Terminator::Any(b'\n')).from_writer(
            Vec::with_capacity(rows.iter().map(|r| r.as_slice().len() + r.len() * 3).sum::<usize>() + 512),
        );
        // Writing to memory cannot fail.
        let _ = self.header.as_ref().map(|header| writer.write_byte_record(header));
        for row in &rows {
            let _ = writer.write_byte_record(row);
        }
        let bytes = writer.into_inner().unwrap_or_default();
        Chunk { csv: String::from_utf8_lossy(&bytes).into_owned(), rows: u32::try_from(rows.len()).unwrap_or(u32::MAX) }
    }

    pub fn has_header(&self) -> bool {
        self.header.is_some()
    }

    /// Whether the report hides names: every user principal name is a pseudonym (unknown for an empty report).
    pub fn concealed(&self) -> Option<bool> {
        (self.upns_seen > 0).then_some(self.upns_concealed == self.upns_seen)
    }
}

/// Microsoft's concealed names: 32 hexadecimal characters, no `@`.
pub fn is_pseudonym(value: &str) -> bool {
    value.len() == 32 && value.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Vec<csv::ByteRecord> {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
        reader.byte_records().map(Result::unwrap).collect()
    }

    #[test]
    fn chunks_repeat_the_header_and_hold_at_most_n_records() {
        let mut chunker = Chunker::new(2);
        let mut input = records(
            "\u{feff}Report Refresh Date,User Principal Name\r\n2026-11-24,a@x.example\r\n2026-11-24,\"b,c\"@x.example\r\n\
             2026-11-24,c@x.example\r\n",
        )
        .into_iter();
        assert!(chunker.push(input.next().unwrap()).is_none());
        assert!(chunker.push(input.next().unwrap()).is_none());
        let first = chunker.push(input.next().unwrap()).unwrap();
        assert_eq!(first.rows, 2);
        assert_eq!(
            first.csv,
            "Report Refresh Date,User Principal Name\n2026-11-24,a@x.example\n2026-11-24,\"b,c@x.example\"\n"
        );
        assert!(chunker.push(input.next().unwrap()).is_none());
        let last = chunker.finish().unwrap();
        assert_eq!(last.rows, 1);
        assert!(last.csv.starts_with("Report Refresh Date,"));
        assert_eq!(chunker.concealed(), Some(false));
    }

    #[test]
    fn a_quoted_field_with_a_line_break_stays_one_record() {
        let mut chunker = Chunker::new(10);
        for record in
            records("User Id,Display Name,User Principal Name\n1,\"Smith,\nJo\",jo@x.example\n2,Ann,ann@x.example\n")
        {
            assert!(chunker.push(record).is_none());
        }
        let chunk = chunker.finish().unwrap();
        assert_eq!(chunk.rows, 2, "two users, not three lines");
        let again = records(&chunk.csv);
        assert_eq!(again.len(), 3);
        assert_eq!(&again[1][1], b"Smith,\nJo");
        assert_eq!(chunker.concealed(), Some(false));
    }

    #[test]
    fn concealed_names_are_detected() {
        let mut chunker = Chunker::new(10);
        for record in records(
            "User Id,User Principal Name\n1,FE7CC8C15246EDCCA289C9A4022762F7\n2,0A1B2C3D4E5F60718293A4B5C6D7E8F9\n",
        ) {
            chunker.push(record);
        }
        assert_eq!(chunker.concealed(), Some(true));
        assert_eq!(Chunker::new(1).concealed(), None);
    }
}
