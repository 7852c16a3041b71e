//! The response cache (`proxy_cache_path` zones): a size-bounded memory tier (moka) over a
//! disk tier under the zone's path that survives restarts. Plain Rust: entries are status,
//! headers and body; the proxy decides what to store and serve.
//!
//! Disk entries are written to a temporary file, fsynced, then renamed into place, so a
//! crash leaves either the old entry or the new one, never a torn one; a file that fails
//! its length and trailer checks on load is deleted and treated as a miss.

mod disk;
pub mod policy;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A cached response.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub key: String,
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: bytes::Bytes,
    /// Seconds since the epoch.
    pub stored: u64,
    /// Fresh until (seconds since the epoch).
    pub expires: u64,
    /// `stale-while-revalidate` and `stale-if-error` windows, in seconds.
    pub swr: u64,
    pub sie: u64,
    /// Purge tags (`Surrogate-Key`, `Cache-Tag`).
    pub tags: Vec<String>,
    /// For a `Vary` marker: the request headers that select the variant.
    pub vary: Vec<String>,
    /// Encoded forms of the body made so far (coding, level, bytes): a hit is compressed
    /// once per coding, not on every request.
    pub encoded: Arc<Mutex<Vec<(String, i32, bytes::Bytes)>>>,
}

impl Entry {
    fn weight(&self) -> u32 {
        let h: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum();
        (self.body.len() + h + self.key.len() + 128).min(u32::MAX as usize) as u32
    }

    pub fn fresh(&self, now: u64) -> bool {
        now < self.expires
    }

    /// Age in seconds (`Age` header).
    pub fn age(&self, now: u64) -> u64 {
        now.saturating_sub(self.stored)
    }
}

pub fn now_secs() -> u64 {
    crate::clock::since_epoch().as_secs()
}

/// Index data kept for every disk entry: what purges and eviction need.
#[derive(Debug, Clone)]
struct IndexItem {
    size: u64,
    /// Seconds since the epoch (for `inactive`).
    accessed: u64,
    /// Use order (for least-recently-used eviction).
    seq: u64,
    tags: Vec<String>,
}

static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Use order, comparable with [`seq_of_time`] of entries found on disk at start.
fn next_seq() -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| seq_of_time(now_secs()));
    base + SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The use order of an entry last used at `secs` (for entries found on disk).
fn seq_of_time(secs: u64) -> u64 {
    secs << 20
}

/// `proxy_cache_path PATH [levels=] keys_zone=NAME:SIZE [max_size=] [inactive=]`.
pub struct Zone {
    pub name: String,
    pub path: PathBuf,
    pub levels: Vec<usize>,
    pub max_size: u64,
    pub inactive: Duration,
    mem: moka::sync::Cache<String, Arc<Entry>>,
    index: Mutex<HashMap<String, IndexItem>>,
    /// Keys being fetched (`proxy_cache_lock`).
    /// Keys being fetched: the holder's token and since when.
    locks: Mutex<HashMap<String, (u64, std::time::Instant)>>,
    /// Requests seen per key, for `proxy_cache_min_uses`.
    uses: Mutex<HashMap<String, u32>>,
    notify: tokio::sync::Notify,
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cache zone \"{}\" at {}", self.name, self.path.display())
    }
}

impl Zone {
    /// Opens (creating it if needed) a zone; its disk index is rebuilt from the files
    /// already there, so entries survive restarts.
    pub fn open(
        name: &str,
        path: PathBuf,
        levels: Vec<usize>,
        mem_size: u64,
        max_size: u64,
        inactive: Duration,
    ) -> std::io::Result<Arc<Zone>> {
        std::fs::create_dir_all(&path)?;
        std::fs::create_dir_all(path.join(".tmp"))?;
        let mem = moka::sync::Cache::builder()
            .max_capacity(mem_size.max(1))
            .weigher(|_k: &String, e: &Arc<Entry>| e.weight())
            .build();
        let zone = Zone {
            name: name.to_string(),
            path,
            levels,
            max_size,
            inactive,
            mem,
            index: Mutex::default(),
            locks: Mutex::default(),
            uses: Mutex::default(),
            notify: tokio::sync::Notify::new(),
        };
        let found = disk::scan(&zone);
        *zone.index.lock().unwrap_or_else(|e| e.into_inner()) = found;
        Ok(Arc::new(zone))
    }

    fn index(&self) -> std::sync::MutexGuard<'_, HashMap<String, IndexItem>> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry for `key`, from memory or disk (promoted to memory), fresh or not.
    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        // One index lock: note the use, and learn whether the disk has the key.
        let on_disk = match self.index().get_mut(key) {
            Some(i) => {
                i.accessed = now_secs();
                i.seq = next_seq();
                true
            }
            None => false,
        };
        if let Some(e) = self.mem.get(key) {
            return Some(e);
        }
        if !on_disk {
            return None;
        }
        match disk::load(self, key) {
            Some(e) => {
                let e = Arc::new(e);
                self.mem.insert(key.to_string(), e.clone());
                Some(e)
            }
            None => {
                self.index().remove(key);
                None
            }
        }
    }

    /// Stores an entry in memory and on disk, then keeps the disk within `max_size`.
    pub fn put(&self, e: Entry) {
        let key = e.key.clone();
        let tags = e.tags.clone();
        let size = match disk::store(self, &e) {
            Ok(n) => n,
            Err(err) => {
                crate::observe::log(
                    crate::observe::Level::Crit,
                    &format!("cache \"{}\": cannot store an entry: {err}", self.name),
                    None,
                );
                0
            }
        };
        self.mem.insert(key.clone(), Arc::new(e));
        if size > 0 {
            self.index().insert(
                key,
                IndexItem {
                    size,
                    accessed: now_secs(),
                    seq: next_seq(),
                    tags,
                },
            );
            self.enforce_limits();
        }
    }

    /// Removes one key; true if it was there.
    pub fn remove(&self, key: &str) -> bool {
        let in_mem = self.mem.remove(key).is_some();
        let on_disk = self.index().remove(key).is_some();
        if on_disk {
            disk::delete(self, key);
        }
        in_mem || on_disk
    }

    /// Purges by exact key, key prefix, or any of `tags`; returns how many went.
    pub fn purge(&self, key: Option<&str>, prefix: Option<&str>, tags: &[String]) -> usize {
        let mut victims: Vec<String> = vec![];
        {
            let index = self.index();
            for (k, item) in index.iter() {
                let hit = key.is_some_and(|x| x == k)
                    || prefix.is_some_and(|p| k.starts_with(p))
                    || (!tags.is_empty() && item.tags.iter().any(|t| tags.contains(t)));
                if hit {
                    victims.push(k.clone());
                }
            }
        }
        // Entries only in memory (written while the disk failed) count too.
        for (k, e) in self.mem.iter() {
            let k = k.as_str();
            let hit = key.is_some_and(|x| x == k)
                || prefix.is_some_and(|p| k.starts_with(p))
                || (!tags.is_empty() && e.tags.iter().any(|t| tags.contains(t)));
            if hit && !victims.iter().any(|v| v == k) {
                victims.push(k.to_string());
            }
        }
        // A purged key's Vary variants go with it.
        let variants: Vec<String> = {
            let index = self.index();
            index
                .keys()
                .filter(|k| victims.iter().any(|v| k.starts_with(&format!("{v}\n"))))
                .cloned()
                .collect()
        };
        victims.extend(variants);
        victims.iter().filter(|k| self.remove(k)).count()
    }

    /// Drops entries not used for `inactive` and the least recently used ones beyond
    /// `max_size`.
    pub fn enforce_limits(&self) {
        let now = now_secs();
        let inactive = self.inactive.as_secs();
        let mut drop: Vec<String> = vec![];
        {
            let index = self.index();
            let mut total: u64 = 0;
            let mut by_age: Vec<(&String, &IndexItem)> = index.iter().collect();
            by_age.sort_by_key(|(_, i)| std::cmp::Reverse(i.seq));
            for (k, i) in by_age {
                total += i.size;
                if now.saturating_sub(i.accessed) > inactive
                    || (self.max_size > 0 && total > self.max_size)
                {
                    drop.push(k.clone());
                }
            }
        }
        for k in drop {
            self.remove(&k);
        }
    }

    /// Bytes on disk.
    pub fn disk_size(&self) -> u64 {
        self.index().values().map(|i| i.size).sum()
    }

    /// Counts a request for `key`; true once it has been asked for `min_uses` times.
    pub fn note_use(&self, key: &str, min_uses: u32) -> bool {
        if min_uses <= 1 {
            return true;
        }
        let mut uses = self.uses.lock().unwrap_or_else(|e| e.into_inner());
        if uses.len() > 100_000 {
            uses.clear();
        }
        let n = uses.entry(key.to_string()).or_insert(0);
        *n += 1;
        if *n >= min_uses {
            uses.remove(key);
            true
        } else {
            false
        }
    }

    /// `proxy_cache_lock`: true if this caller fetches `key`; false if another fetch is
    /// under way (wait with [`Zone::wait_unlock`]).
    /// Takes `key`'s lock; also one held longer than `age` (nginx's
    /// `proxy_cache_lock_age`: that fetch is presumed stuck and one more may go). Returns
    /// the token [`Zone::unlock`] wants, so a superseded holder does not unlock the new one.
    pub fn try_lock(&self, key: &str, age: Option<Duration>) -> Option<u64> {
        static TOKENS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        if let Some((_, since)) = locks.get(key) {
            if age.is_none_or(|a| now.duration_since(*since) < a) {
                return None;
            }
        }
        let token = TOKENS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        locks.insert(key.to_string(), (token, now));
        Some(token)
    }

    pub fn unlock(&self, key: &str, token: u64) {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.get(key).is_some_and(|(t, _)| *t == token) {
            locks.remove(key);
        }
        drop(locks);
        self.notify.notify_waiters();
    }

    /// Waits until `key`'s fetch is done, its lock is older than `age`, or `limit` passes.
    pub async fn wait_unlock(&self, key: &str, limit: Duration, age: Option<Duration>) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.notify.notified();
            let since = match self
                .locks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(key)
            {
                None => return,
                Some((_, since)) => *since,
            };
            let mut until = deadline;
            if let Some(a) = age {
                let stale_at = tokio::time::Instant::from_std(since + a);
                if stale_at <= tokio::time::Instant::now() {
                    return;
                }
                until = until.min(stale_at);
            }
            if tokio::time::timeout_at(until, notified).await.is_err() && until == deadline {
                return;
            }
        }
    }
}

/// Every zone by name, shared by all generations (a reload keeps a zone whose name and
/// path stay the same, as nginx keeps its shared memory).
pub fn zone(
    name: &str,
    path: PathBuf,
    levels: Vec<usize>,
    mem_size: u64,
    max_size: u64,
    inactive: Duration,
) -> std::io::Result<Arc<Zone>> {
    static ZONES: Mutex<Vec<Arc<Zone>>> = Mutex::new(Vec::new());
    let mut zones = ZONES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(z) = zones.iter().find(|z| {
        z.name == name
            && z.path == path
            && z.levels == levels
            && z.max_size == max_size
            && z.inactive == inactive
    }) {
        return Ok(z.clone());
    }
    let z = Zone::open(name, path, levels, mem_size, max_size, inactive)?;
    zones.retain(|o| o.name != name);
    zones.push(z.clone());
    Ok(z)
}

#[cfg(test)]
mod tests;
