//! The disk tier: one file per entry at `PATH/<levels>/<md5 of key>`, written to
//! `PATH/.tmp`, fsynced and renamed into place.
//!
//! Layout: `OCC1`, a little-endian u32 metadata length, the metadata (JSON), the body, the
//! body's length as a little-endian u64, `OCCE`. A file whose lengths or markers do not
//! add up is removed on load.

use super::{Entry, IndexItem, Zone};
use md5::{Digest, Md5};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

const HEAD: &[u8; 4] = b"OCC1";
const TAIL: &[u8; 4] = b"OCCE";

/// nginx's file name: the key's MD5 in hex, under directories taken from its end.
pub fn file_for(z: &Zone, key: &str) -> PathBuf {
    let hex: String = Md5::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut p = z.path.clone();
    let mut end = hex.len();
    for l in &z.levels {
        p.push(&hex[end - l..end]);
        end -= l;
    }
    p.push(hex);
    p
}

fn meta(e: &Entry) -> serde_json::Value {
    serde_json::json!({
        "key": e.key,
        "status": e.status,
        "headers": e.headers.iter().map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned())).collect::<Vec<_>>(),
        "stored": e.stored,
        "expires": e.expires,
        "swr": e.swr,
        "sie": e.sie,
        "tags": e.tags,
        "vary": e.vary,
    })
}

/// Writes an entry; returns the bytes it takes.
pub fn store(z: &Zone, e: &Entry) -> std::io::Result<u64> {
    let m = serde_json::to_vec(&meta(e)).map_err(std::io::Error::other)?;
    let mut buf = Vec::with_capacity(m.len() + e.body.len() + 20);
    buf.extend_from_slice(HEAD);
    buf.extend_from_slice(&(m.len() as u32).to_le_bytes());
    buf.extend_from_slice(&m);
    buf.extend_from_slice(&e.body);
    buf.extend_from_slice(&(e.body.len() as u64).to_le_bytes());
    buf.extend_from_slice(TAIL);
    let dest = file_for(z, &e.key);
    let tmp = z.path.join(".tmp").join(format!(
        "{}.{}",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        rand::random::<u64>()
    ));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&buf)?;
    f.sync_data()?;
    drop(f);
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if let Err(err) = std::fs::rename(&tmp, &dest) {
        let _ = std::fs::remove_file(&tmp);
        return Err(err);
    }
    Ok(buf.len() as u64)
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
                p.get(1)?.as_str()?.as_bytes().to_vec(),
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

/// Reads an entry back; a damaged file (or another key's, on a hash collision) is a miss,
/// and a damaged one is removed.
pub fn load(z: &Zone, key: &str) -> Option<Entry> {
    let path = file_for(z, key);
    let buf = std::fs::read(&path).ok()?;
    match parse(&buf) {
        Some(e) if e.key == key => Some(e),
        Some(_) => None,
        None => {
            let _ = std::fs::remove_file(&path);
            None
        }
    }
}

pub fn delete(z: &Zone, key: &str) {
    let _ = std::fs::remove_file(file_for(z, key));
}

/// Rebuilds the index from the files under the zone's path (and clears `.tmp`).
pub fn scan(z: &Zone) -> HashMap<String, IndexItem> {
    let mut out = HashMap::new();
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
