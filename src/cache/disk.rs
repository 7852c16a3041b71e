//! The disk tier: one file per entry at `PATH/<levels>/<md5 of key>`, written to `PATH/.tmp`,
//! fsynced and renamed into place. Only the zone's writer thread changes files; readers
//! report damage instead of deleting.
//!
//! Layout: `OCC1`, a little-endian u32 metadata length, the metadata (JSON), the body, the
//! body's length as a little-endian u64, `OCCE`. A file whose lengths or markers do not
//! add up is removed on load.

use super::HashMap;
use super::{Entry, IndexItem};
use md5::{Digest, Md5};
use std::io::Write;
use std::path::{Path, PathBuf};

const HEAD: &[u8; 4] = b"OCC1";
const TAIL: &[u8; 4] = b"OCCE";

/// Where a zone's files live: what the writer thread needs of the zone.
#[derive(Debug, Clone)]
pub struct Layout {
    pub path: PathBuf,
    pub levels: Vec<usize>,
}

impl Layout {
    /// nginx's file name: the key's MD5 in hex, under directories taken from its end.
    pub fn file_for(&self, key: &str) -> PathBuf {
        let hex: String = Md5::digest(key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut p = self.path.clone();
        let mut end = hex.len();
        for l in &self.levels {
            p.push(&hex[end - l..end]);
            end -= l;
        }
        p.push(hex);
        p
    }
}

/// nginx's wording for a failed file operation: `rename() "a" to "b" failed (2: ...)`.
fn failed(op: &str, paths: &[&Path], e: &std::io::Error) -> String {
    let names: Vec<String> = paths
        .iter()
        .map(|p| format!("\"{}\"", p.display()))
        .collect();
    format!(
        "{op}() {} failed ({}: {})",
        names.join(" to "),
        e.raw_os_error().unwrap_or(0),
        crate::error::strerror(e)
    )
}

/// The metadata block of an entry's file (made on the worker: small, and it fixes the
/// file's size for the index before the write happens).
pub fn meta(e: &Entry) -> Vec<u8> {
    let m = serde_json::json!({
        "key": e.key,
        "status": e.status,
        "headers": e.headers.iter().map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned())).collect::<Vec<_>>(),
        "stored": e.stored,
        "expires": e.expires,
        "swr": e.swr,
        "sie": e.sie,
        "tags": e.tags,
        "vary": e.vary,
    });
    // Serialising a Value to memory cannot fail.
    serde_json::to_vec(&m).unwrap_or_default()
}

/// The bytes an entry with this metadata and body takes on disk.
pub fn file_size(meta: &[u8], body: &[u8]) -> u64 {
    (meta.len() + body.len() + 20) as u64
}

/// Writes an entry to a temporary file, fsyncs it and renames it into place; the error
/// is a log message in nginx's words.
pub fn store(l: &Layout, key: &str, meta: &[u8], body: &[u8]) -> Result<(), String> {
    let dest = l.file_for(key);
    let tmp = l.path.join(".tmp").join(format!(
        "{}.{}",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        rand::random::<u64>()
    ));
    let written = write_file(&tmp, meta, body);
    let placed = written.and_then(|()| {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| failed("mkdir", &[dir], &e))?;
        }
        std::fs::rename(&tmp, &dest).map_err(|e| failed("rename", &[&tmp, &dest], &e))
    });
    if placed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    placed
}

fn write_file(tmp: &Path, meta: &[u8], body: &[u8]) -> Result<(), String> {
    let f = std::fs::File::create(tmp).map_err(|e| failed("open", &[tmp], &e))?;
    // Small pieces go through the buffer; the body is written from where it is.
    let mut w = std::io::BufWriter::with_capacity(64 << 10, f);
    let pieces: [&[u8]; 6] = [
        HEAD,
        &(meta.len() as u32).to_le_bytes(),
        meta,
        body,
        &(body.len() as u64).to_le_bytes(),
        TAIL,
    ];
    for p in pieces {
        w.write_all(p).map_err(|e| failed("write", &[tmp], &e))?;
    }
    let f = w
        .into_inner()
        .map_err(|e| failed("write", &[tmp], e.error()))?;
    f.sync_data().map_err(|e| failed("fsync", &[tmp], &e))
}

fn parse(buf: &[u8]) -> Option<Entry> {
    if buf.len() < 20 || &buf[..4] != HEAD || &buf[buf.len() - 4..] != TAIL {
        return None;
    }
    let mlen = u32::from_le_bytes(buf[4..8].try_into().ok()?) as usize;
    let blen = u64::from_le_bytes(buf[buf.len() - 12..buf.len() - 4].try_into().ok()?) as usize;
    if 8 + mlen + blen + 12 != buf.len() {
        return None;
    }
    let m: serde_json::Value = serde_json::from_slice(&buf[8..8 + mlen]).ok()?;
    let strs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let headers = m["headers"]
        .as_array()?
        .iter()
        .filter_map(|p| {
            let p = p.as_array()?;
            Some((
                p.first()?.as_str()?.to_string(),
                bytes::Bytes::copy_from_slice(p.get(1)?.as_str()?.as_bytes()),
            ))
        })
        .collect();
    Some(Entry {
        key: m["key"].as_str()?.to_string(),
        status: m["status"].as_u64()? as u16,
        headers,
        body: bytes::Bytes::copy_from_slice(&buf[8 + mlen..8 + mlen + blen]),
        stored: m["stored"].as_u64()?,
        expires: m["expires"].as_u64()?,
        swr: m["swr"].as_u64().unwrap_or(0),
        sie: m["sie"].as_u64().unwrap_or(0),
        tags: strs(&m["tags"]),
        vary: strs(&m["vary"]),
        ..Default::default()
    })
}

/// What reading an entry's file found.
pub enum Loaded {
    Entry(Box<Entry>),
    /// No file (or another key's, on a hash collision).
    Missing,
    /// A file that fails its length and marker checks: the caller queues its deletion.
    Damaged,
}

/// Reads an entry back. Never changes the disk: deletions go through the zone's writer.
pub fn load(l: &Layout, key: &str) -> Loaded {
    let Ok(buf) = std::fs::read(l.file_for(key)) else {
        return Loaded::Missing;
    };
    match parse(&buf) {
        Some(e) if e.key == key => Loaded::Entry(Box::new(e)),
        Some(_) => Loaded::Missing,
        None => Loaded::Damaged,
    }
}

/// Removes an entry's file; one already gone is not an error.
pub fn delete(l: &Layout, key: &str) -> Result<(), String> {
    let f = l.file_for(key);
    match std::fs::remove_file(&f) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(failed("unlink", &[&f], &e)),
        _ => Ok(()),
    }
}

/// Rebuilds the index from the files under the zone's path (and clears `.tmp`).
pub fn scan(z: &Layout) -> HashMap<String, IndexItem> {
    let mut out = HashMap::default();
    if let Ok(rd) = std::fs::read_dir(z.path.join(".tmp")) {
        for f in rd.flatten() {
            let _ = std::fs::remove_file(f.path());
        }
    }
    let mut dirs = vec![z.path.clone()];
    while let Some(d) = dirs.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for ent in rd.flatten() {
            let p = ent.path();
            if p.file_name().is_some_and(|n| n == ".tmp") {
                continue;
            }
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            let Ok(buf) = std::fs::read(&p) else { continue };
            match parse(&buf) {
                Some(e) => {
                    let accessed = ent
                        .metadata()
                        .ok()
                        .and_then(|m| m.modified().ok())
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(e.stored, |d| d.as_secs());
                    out.insert(
                        e.key.clone(),
                        IndexItem {
                            size: buf.len() as u64,
                            accessed,
                            seq: super::seq_of_time(accessed),
                            ver: 0,
                            tags: e.tags,
                        },
                    );
                }
                None => {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
    }
    out
}
