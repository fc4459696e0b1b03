//! Fingerprints the migrations so that the per-test template database is rebuilt when they change.

use std::path::Path;

fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() { visit(&path, files) } else { files.push(path) }
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let mut files = Vec::new();
    visit(Path::new("migrations"), &mut files);
    files.sort();
    // FNV-1a over names and contents: stable across builds and platforms.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for file in files {
        let name = file.to_string_lossy().replace('\\', "/");
        let content = std::fs::read(&file).unwrap_or_default();
        for byte in name.as_bytes().iter().chain(content.iter()) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=SUA_MIGRATIONS_HASH={hash:016x}");
}
