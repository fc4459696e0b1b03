//! A ZIP archive written front to back, for workbooks streamed while they are made.
//!
//! Small parts are stored whole; the sheet is deflated as it comes, its CRC and sizes in a data descriptor after
//! it (general purpose bit 3), and the central directory at the end says where every entry starts. Any size or
//! offset that does not fit the classic 32-bit fields goes to ZIP64 fields instead (PKWARE APPNOTE 4.3.9, 4.4,
//! 4.5.3): the entry's data descriptor then carries 8-byte sizes, its central directory record a ZIP64 extra field,
//! and the archive ends with a ZIP64 end record and its locator before the classic end record. An export of
//! more than 4 GiB is then still one readable workbook; a small one stays a classic ZIP, which every spreadsheet
//! program reads.

use std::io::Write;

use flate2::Compression;
use flate2::write::DeflateEncoder;

/// The largest value of a classic 32-bit field; this value itself means "see the ZIP64 field".
pub const CLASSIC_MAX: u64 = 0xFFFF_FFFF;
/// The largest entry count of the classic end record.
const CLASSIC_ENTRIES: u64 = 0xFFFF;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const END: u32 = 0x0605_4b50;
const ZIP64_EXTRA: u16 = 0x0001;
/// Version needed to extract: 2.0 (deflate, descriptors), 4.5 (ZIP64).
const VERSION_CLASSIC: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// Names are UTF-8 (bit 11); sizes follow in a data descriptor (bit 3).
const FLAG_UTF8: u16 = 0x0800;
const FLAG_DESCRIPTOR: u16 = 0x0008;

// 1980-01-01 00:00 in MS-DOS form.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;

struct Entry {
    name: &'static str,
    offset: u64,
    crc: u32,
    compressed: u64,
    size: u64,
    method: u16,
    descriptor: bool,
}

struct OpenEntry {
    encoder: DeflateEncoder<Vec<u8>>,
    crc: crc32fast::Hasher,
    size: u64,
    compressed: u64,
}

/// Writes an archive into the caller's buffer, which the caller sends on as it fills.
pub struct ZipWriter {
    offset: u64,
    entries: Vec<Entry>,
    open: Option<OpenEntry>,
    /// Values from this on go to ZIP64 fields: [`CLASSIC_MAX`], lower only to test the ZIP64 records on small data.
    limit: u64,
}

impl Default for ZipWriter {
    fn default() -> Self {
        Self::with_limit(CLASSIC_MAX)
    }
}

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u64le(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

impl ZipWriter {
    pub fn with_limit(limit: u64) -> Self {
        Self { offset: 0, entries: Vec::new(), open: None, limit: limit.min(CLASSIC_MAX) }
    }

    fn too_big(&self, value: u64) -> bool {
        value >= self.limit
    }

    /// A 32-bit field: the value, or the marker that sends readers to the ZIP64 field.
    fn field32(&self, value: u64) -> u32 {
        if self.too_big(value) { CLASSIC_MAX as u32 } else { value as u32 }
    }

    fn emit(&mut self, out: &mut Vec<u8>, data: &[u8]) {
        out.extend_from_slice(data);
        self.offset += data.len() as u64;
    }

    fn flags(entry: &Entry) -> u16 {
        if entry.descriptor { FLAG_UTF8 | FLAG_DESCRIPTOR } else { FLAG_UTF8 }
    }

    /// The local header. An entry whose sizes follow in a descriptor has zeros here; a stored entry too large for
    /// the classic fields carries both sizes in a ZIP64 extra field (APPNOTE 4.5.3).
    fn local_header(&mut self, out: &mut Vec<u8>, entry: &Entry) {
        let zip64 = !entry.descriptor && (self.too_big(entry.size) || self.too_big(entry.compressed));
        let mut h = Vec::with_capacity(30 + entry.name.len() + 20);
        u32le(&mut h, LOCAL_HEADER);
        u16le(&mut h, if zip64 { VERSION_ZIP64 } else { VERSION_CLASSIC });
        u16le(&mut h, Self::flags(entry));
        u16le(&mut h, entry.method);
        u16le(&mut h, DOS_TIME);
        u16le(&mut h, DOS_DATE);
        u32le(&mut h, entry.crc);
        if zip64 {
            u32le(&mut h, CLASSIC_MAX as u32);
            u32le(&mut h, CLASSIC_MAX as u32);
        } else {
            u32le(&mut h, entry.compressed as u32);
            u32le(&mut h, entry.size as u32);
        }
        u16le(&mut h, entry.name.len() as u16);
        u16le(&mut h, if zip64 { 20 } else { 0 });
        h.extend_from_slice(entry.name.as_bytes());
        if zip64 {
            u16le(&mut h, ZIP64_EXTRA);
            u16le(&mut h, 16);
            u64le(&mut h, entry.size);
            u64le(&mut h, entry.compressed);
        }
        self.emit(out, &h);
    }

    /// A small entry known in full: stored uncompressed, sizes in its header.
    pub fn stored_entry(&mut self, out: &mut Vec<u8>, name: &'static str, data: &[u8]) {
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
    pub fn begin(&mut self, out: &mut Vec<u8>, name: &'static str) {
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

    /// Appends to the open entry.
    pub fn write(&mut self, out: &mut Vec<u8>, data: &[u8]) {
        let Some(open) = &mut self.open else { return };
        open.crc.update(data);
        open.size += data.len() as u64;
        // Writing into a Vec cannot fail.
        let _ = open.encoder.write_all(data);
        let ready = std::mem::take(open.encoder.get_mut());
        open.compressed += ready.len() as u64;
        self.emit(out, &ready);
    }

    /// Ends the open entry with its data descriptor: 8-byte sizes when either size needs ZIP64 (APPNOTE 4.3.9.2).
    pub fn end(&mut self, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else { return };
        let rest = open.encoder.finish().unwrap_or_default();
        let compressed = open.compressed + rest.len() as u64;
        self.emit(out, &rest);
        let crc = open.crc.finalize();
        let mut d = Vec::with_capacity(24);
        u32le(&mut d, DATA_DESCRIPTOR);
        u32le(&mut d, crc);
        if self.too_big(compressed) || self.too_big(open.size) {
            u64le(&mut d, compressed);
            u64le(&mut d, open.size);
        } else {
            u32le(&mut d, compressed as u32);
            u32le(&mut d, open.size as u32);
        }
        self.emit(out, &d);
        if let Some(entry) = self.entries.last_mut() {
            entry.crc = crc;
            entry.compressed = compressed;
            entry.size = open.size;
        }
    }

    /// One central directory record: values too large for their classic field are in a ZIP64 extra field, in
    /// the order APPNOTE 4.5.3 prescribes (size, compressed size, offset), and only those.
    fn central_record(&self, dir: &mut Vec<u8>, e: &Entry) {
        let mut extra = Vec::new();
        for value in [e.size, e.compressed, e.offset] {
            if self.too_big(value) {
                u64le(&mut extra, value);
            }
        }
        let version = if extra.is_empty() { VERSION_CLASSIC } else { VERSION_ZIP64 };
        u32le(dir, CENTRAL_HEADER);
        u16le(dir, version); // made by (MS-DOS attributes)
        u16le(dir, version); // needed to extract
        u16le(dir, Self::flags(e));
        u16le(dir, e.method);
        u16le(dir, DOS_TIME);
        u16le(dir, DOS_DATE);
        u32le(dir, e.crc);
        u32le(dir, self.field32(e.compressed));
        u32le(dir, self.field32(e.size));
        u16le(dir, e.name.len() as u16);
        u16le(dir, if extra.is_empty() { 0 } else { 4 + extra.len() as u16 });
        dir.extend_from_slice(&[0; 6]); // comment length, disk number, internal attributes
        u32le(dir, 0); // external attributes
        u32le(dir, self.field32(e.offset));
        dir.extend_from_slice(e.name.as_bytes());
        if !extra.is_empty() {
            u16le(dir, ZIP64_EXTRA);
            u16le(dir, extra.len() as u16);
            dir.extend_from_slice(&extra);
        }
    }

    /// The central directory and the end records.
    pub fn central_directory(&mut self, out: &mut Vec<u8>) {
        let start = self.offset;
        let mut dir = Vec::new();
        for e in &self.entries {
            self.central_record(&mut dir, e);
        }
        let size = dir.len() as u64;
        self.emit(out, &dir);
        let count = self.entries.len() as u64;
        let zip64 = count >= CLASSIC_ENTRIES || self.too_big(size) || self.too_big(start);
        let mut end = Vec::with_capacity(98);
        if zip64 {
            let record = self.offset;
            u32le(&mut end, ZIP64_END);
            u64le(&mut end, 44); // size of the rest of this record
            u16le(&mut end, VERSION_ZIP64);
            u16le(&mut end, VERSION_ZIP64);
            u32le(&mut end, 0); // this disk
            u32le(&mut end, 0); // disk of the central directory
            u64le(&mut end, count);
            u64le(&mut end, count);
            u64le(&mut end, size);
            u64le(&mut end, start);
            u32le(&mut end, ZIP64_LOCATOR);
            u32le(&mut end, 0); // disk of the ZIP64 end record
            u64le(&mut end, record);
            u32le(&mut end, 1); // disks in all
        }
        let count16 = if zip64 { CLASSIC_ENTRIES as u16 } else { count as u16 };
        u32le(&mut end, END);
        end.extend_from_slice(&[0; 4]); // this disk, disk of the central directory
        u16le(&mut end, count16);
        u16le(&mut end, count16);
        u32le(&mut end, if zip64 { CLASSIC_MAX as u32 } else { size as u32 });
        u32le(&mut end, if zip64 { CLASSIC_MAX as u32 } else { start as u32 });
        u16le(&mut end, 0); // comment length
        self.emit(out, &end);
    }
}
