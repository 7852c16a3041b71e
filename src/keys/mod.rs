//! The API-key store: keys are kept only as SHA-256 hashes; a lookup hashes the presented
//! key and finds its record. The file store re-reads its JSON file when it changes (checked
//! at most once a second), so `openclaw keys add` and edits take effect without a reload.
//!
//! File format: `{"keys":[{"id":"acme","hash":"sha256:<hex>","tier":"pro",
//! "scopes":["read"],"status":"active"|"revoked","expires_at":"RFC3339"}]}`.

mod redis;

pub use redis::{store as redis_store, RedisStore};

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime};

/// One key's record (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    pub tier: Option<String>,
    pub scopes: Vec<String>,
    pub revoked: bool,
    pub expires_at: Option<SystemTime>,
}

/// Why a presented key is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    NotFound,
    Revoked,
    Expired,
}

impl Refused {
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::NotFound => "not found",
            Refused::Revoked => "revoked",
            Refused::Expired => "expired",
        }
    }
}

/// `sha256:<hex>` of a key, as stored.
pub fn hash_of(key: &str) -> String {
    let d = Sha256::digest(key.as_bytes());
    format!("sha256:{}", hex(&d))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Equality that takes the same time wherever the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

struct Loaded {
    mtime: Option<SystemTime>,
    checked: Instant,
    /// By the hash's hex digits.
    keys: HashMap<String, Record>,
}

/// A JSON file of key records.
pub struct FileStore {
    pub path: PathBuf,
    state: RwLock<Loaded>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileStore({})", self.path.display())
    }
}

/// Parses the store file; errors say what is wrong where.
pub fn parse_file(text: &str) -> Result<Vec<(String, Record)>, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let list = v["keys"]
        .as_array()
        .ok_or_else(|| "no \"keys\" array".to_string())?;
    let mut out = vec![];
    for (i, k) in list.iter().enumerate() {
        let field = |n: &str| k[n].as_str().map(str::to_string);
        let id = field("id").ok_or_else(|| format!("key #{}: no \"id\"", i + 1))?;
        let hash = field("hash").ok_or_else(|| format!("key \"{id}\": no \"hash\""))?;
        let hexpart = hash
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("key \"{id}\": \"hash\" must be sha256:<64 hex digits>"))?;
        let expires_at = match field("expires_at") {
            Some(s) => Some(
                chrono::DateTime::parse_from_rfc3339(&s)
                    .map_err(|e| format!("key \"{id}\": bad expires_at: {e}"))?
                    .into(),
            ),
            None => None,
        };
        let revoked = match field("status").as_deref() {
            None | Some("active") => false,
            Some("revoked") => true,
            Some(s) => return Err(format!("key \"{id}\": unknown status \"{s}\"")),
        };
        out.push((
            hexpart.to_ascii_lowercase(),
            Record {
                id,
                tier: field("tier"),
                scopes: k["scopes"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                revoked,
                expires_at,
            },
        ));
    }
    Ok(out)
}

impl FileStore {
    /// Opens and reads the file now (a missing or broken file is an error at load).
    pub fn open(path: &Path) -> Result<FileStore, String> {
        let (mtime, keys) = Self::read(path)?;
        Ok(FileStore {
            path: path.to_path_buf(),
            state: RwLock::new(Loaded {
                mtime,
                checked: Instant::now(),
                keys,
            }),
        })
    }

    #[allow(clippy::type_complexity)]
    fn read(path: &Path) -> Result<(Option<SystemTime>, HashMap<String, Record>), String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read the key store \"{}\" ({})",
                path.display(),
                crate::error::strerror(&e)
            )
        })?;
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let keys = parse_file(&text)
            .map_err(|e| format!("key store \"{}\": {e}", path.display()))?
            .into_iter()
            .collect();
        Ok((mtime, keys))
    }

    /// Re-reads the file if it changed; a broken new version is logged and the old keys
    /// stay in force.
    fn refresh(&self) {
        {
            let st = self.state.read().unwrap_or_else(|e| e.into_inner());
            if st.checked.elapsed() < Duration::from_secs(1) {
                return;
            }
        }
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        st.checked = Instant::now();
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if mtime == st.mtime {
            return;
        }
        match Self::read(&self.path) {
            Ok((m, keys)) => {
                st.mtime = m;
                st.keys = keys;
            }
            Err(e) => {
                st.mtime = mtime;
                crate::observe::log(
                    crate::observe::Level::Error,
                    &format!("{e}; the previous keys stay in force"),
                    None,
                );
            }
        }
    }

    /// The record of a presented key.
    pub fn lookup(&self, key: &str) -> Result<Record, Refused> {
        self.refresh();
        let want = Sha256::digest(key.as_bytes());
        let want_hex = hex(&want);
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        // The map is indexed by the hash (which says nothing usable about the key); the
        // final comparison is constant-time all the same.
        let found = st
            .keys
            .get_key_value(&want_hex)
            .filter(|(h, _)| ct_eq(h.as_bytes(), want_hex.as_bytes()))
            .map(|(_, r)| r.clone());
        check(found)
    }
}

/// Where keys are kept.
#[derive(Debug)]
pub enum Store {
    File(FileStore),
    Redis(RedisStore),
}

impl Store {
    /// The record of a presented key; `Err` when the store could not answer (Redis down).
    pub async fn lookup(&self, key: &str) -> Result<Result<Record, Refused>, String> {
        match self {
            Store::File(f) => Ok(f.lookup(key)),
            Store::Redis(r) => r.lookup(key).await,
        }
    }

    /// The file of a file store.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Store::File(f) => Some(&f.path),
            Store::Redis(_) => None,
        }
    }
}

/// Turns a found (or missing) record into the lookup's answer.
pub fn check(found: Option<Record>) -> Result<Record, Refused> {
    let r = found.ok_or(Refused::NotFound)?;
    if r.revoked {
        return Err(Refused::Revoked);
    }
    if r.expires_at.is_some_and(|t| t <= crate::clock::system()) {
        return Err(Refused::Expired);
    }
    Ok(r)
}

/// A new random key: 32 bytes, URL-safe base64 with an `ock_` prefix.
pub fn generate() -> String {
    use base64::Engine;
    let b: [u8; 32] = rand::random();
    format!(
        "ock_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_hash_with_status_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keys.json");
        let k1 = generate();
        let k2 = generate();
        let k3 = generate();
        let json = serde_json::json!({"keys": [
            {"id": "acme", "hash": hash_of(&k1), "tier": "pro", "scopes": ["read", "write"]},
            {"id": "old", "hash": hash_of(&k2), "status": "revoked"},
            {"id": "gone", "hash": hash_of(&k3), "expires_at": "2001-01-01T00:00:00Z"},
        ]});
        std::fs::write(&p, json.to_string()).unwrap();
        let s = FileStore::open(&p).unwrap();
        let r = s.lookup(&k1).unwrap();
        assert_eq!((r.id.as_str(), r.tier.as_deref()), ("acme", Some("pro")));
        assert_eq!(s.lookup(&k2), Err(Refused::Revoked));
        assert_eq!(s.lookup(&k3), Err(Refused::Expired));
        assert_eq!(s.lookup("nope"), Err(Refused::NotFound));
        assert!(k1.starts_with("ock_") && k1.len() > 40);
    }

    #[test]
    fn bad_files_are_refused_with_reasons() {
        assert!(parse_file("{").unwrap_err().contains("invalid JSON"));
        assert!(parse_file("{\"keys\":[{\"id\":\"a\",\"hash\":\"md5:x\"}]}")
            .unwrap_err()
            .contains("sha256"));
    }
}
