//! The response cache (`proxy_cache_path` zones): a size-bounded memory tier (moka) over a
//! disk tier under the zone's path that survives restarts. Plain Rust: entries are status,
//! headers and body; the proxy decides what to store and serve.
//!
//! Disk I/O never runs on a worker: each zone has one writer thread with a FIFO queue
//! ([`writer::Queue`]) that stores and deletes files in the order workers asked for them,
//! so a purge queued after a store of the same key is applied after it. An entry is
//! servable at once: from memory, or from the zone's pending map until its file is
//! written. Reads of entries only on disk run on tokio's blocking pool ([`Zone::lookup`]).
//!
//! Disk entries are written to a temporary file, fsynced, then renamed into place, so a
//! crash leaves either the old entry or the new one, never a torn one; a file that fails
//! its length and trailer checks on load is deleted and treated as a miss.

mod disk;
pub mod policy;
mod writer;

/// The zone's maps hash keys with ahash: SipHash showed up on every hit.
type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A cached response.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub key: String,
    pub status: u16,
    /// Names lowercase; values shared with every response served from the entry.
    pub headers: Vec<(String, bytes::Bytes)>,
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
    /// `headers` as a header map, built on the first hit; each hit clones it (names are
    /// parsed once, values stay shared).
    pub head: std::sync::OnceLock<Vec<(http::HeaderName, http::HeaderValue)>>,
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
    /// Which store wrote it (0: found on disk at start): a read or a finished write that
    /// raced a newer store or a purge sees the change and leaves the index alone.
    ver: u64,
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
    mem: moka::sync::Cache<String, Arc<Entry>, ahash::RandomState>,
    /// What is (or is queued to be) on disk, shared with the writer thread.
    tier: Arc<Tier>,
    writer: writer::Queue<Job>,
    /// Keys being fetched (`proxy_cache_lock`): the holder's token and since when.
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

/// A zone's disk state, shared by the zone and its writer thread.
struct Tier {
    name: String,
    layout: disk::Layout,
    index: Mutex<HashMap<String, IndexItem>>,
    /// Stores queued and not yet on disk, by key: (version, entry). They answer lookups
    /// the memory tier has already evicted.
    pending: Mutex<HashMap<String, (u64, Arc<Entry>)>>,
    /// Body bytes held by `pending`; past [`MAX_PENDING`] new stores stay in memory only.
    pending_bytes: std::sync::atomic::AtomicU64,
}

/// How many body bytes may wait for the disk writer before stores skip the disk (a disk
/// far slower than the traffic must not grow memory without bound).
const MAX_PENDING: u64 = 256 << 20;

/// Work for a zone's writer thread.
enum Job {
    Store {
        ver: u64,
        entry: Arc<Entry>,
        meta: Vec<u8>,
    },
    Delete(String),
}

impl Tier {
    fn index(&self) -> std::sync::MutexGuard<'_, HashMap<String, IndexItem>> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Arc<Entry>)>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops `key`'s pending store if it is still version `ver` (any version for None).
    fn unpend(&self, key: &str, ver: Option<u64>) {
        let mut p = self.pending();
        if p.get(key).is_some_and(|(v, _)| ver.is_none_or(|x| x == *v)) {
            if let Some((_, e)) = p.remove(key) {
                self.pending_bytes
                    .fetch_sub(e.body.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    fn log(&self, msg: &str) {
        crate::observe::log(
            crate::observe::Level::Crit,
            &format!("cache \"{}\": {msg}", self.name),
            None,
        );
    }

    /// The writer thread's side of a job.
    fn run(&self, job: Job) {
        match job {
            Job::Store { ver, entry, meta } => {
                if let Err(msg) = disk::store(&self.layout, &entry.key, &meta, &entry.body) {
                    self.log(&msg);
                    // Not on disk after all: the index must not promise it.
                    let mut index = self.index();
                    if index.get(&entry.key).is_some_and(|i| i.ver == ver) {
                        index.remove(&entry.key);
                    }
                    self.unpend(&entry.key, Some(ver));
                    return;
                }
                self.unpend(&entry.key, Some(ver));
            }
            Job::Delete(key) => {
                if let Err(msg) = disk::delete(&self.layout, &key) {
                    self.log(&msg);
                }
            }
        }
    }
}

/// Where [`Zone::get`] finds a key.
enum Probe {
    Here(Arc<Entry>),
    Absent,
    /// Only on disk, as version `ver`.
    Disk(u64),
}

static VER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Every writer ever started, for [`flush_all`] at exit.
static WRITERS: Mutex<Vec<(String, writer::Queue<Job>)>> = Mutex::new(Vec::new());

impl Zone {
    /// Opens (creating it if needed) a zone; its disk index is rebuilt from the files
    /// already there, so entries survive restarts. Starts the zone's writer thread.
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
            .build_with_hasher(ahash::RandomState::new());
        let layout = disk::Layout {
            path: path.clone(),
            levels: levels.clone(),
        };
        let tier = Arc::new(Tier {
            name: name.to_string(),
            index: Mutex::new(disk::scan(&layout)),
            layout,
            pending: Mutex::default(),
            pending_bytes: Default::default(),
        });
        let t = tier.clone();
        let writer = writer::Queue::new(&format!("cache {name}"), move |job| t.run(job));
        WRITERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_string(), writer.clone()));
        Ok(Arc::new(Zone {
            name: name.to_string(),
            path,
            levels,
            max_size,
            inactive,
            mem,
            tier,
            writer,
            locks: Mutex::default(),
            uses: Mutex::default(),
            notify: tokio::sync::Notify::new(),
        }))
    }

    fn index(&self) -> std::sync::MutexGuard<'_, HashMap<String, IndexItem>> {
        self.tier.index()
    }

    /// Notes a use of `key` and finds it in memory, among pending stores, or on disk.
    fn probe(&self, key: &str) -> Probe {
        // One index lock: note the use, and learn whether the disk has the key.
        let ver = self.index().get_mut(key).map(|i| {
            i.accessed = now_secs();
            i.seq = next_seq();
            i.ver
        });
        if let Some(e) = self.mem.get(key) {
            return Probe::Here(e);
        }
        if let Some((_, e)) = self.tier.pending().get(key) {
            return Probe::Here(e.clone());
        }
        ver.map_or(Probe::Absent, Probe::Disk)
    }

    /// Reads `key` (version `ver` in the index) from disk and promotes it to memory. A
    /// store or purge of the key meanwhile wins over what was read.
    fn load(&self, key: &str, ver: u64) -> Option<Arc<Entry>> {
        let loaded = disk::load(&self.tier.layout, key);
        let mut index = self.index();
        if index.get(key).is_none_or(|i| i.ver != ver) {
            drop(index);
            // A newer store or a purge came in while the file was read.
            return self
                .mem
                .get(key)
                .or_else(|| self.tier.pending().get(key).map(|(_, e)| e.clone()));
        }
        match loaded {
            disk::Loaded::Entry(e) => {
                let e = Arc::new(*e);
                self.mem.insert(key.to_string(), e.clone());
                Some(e)
            }
            disk::Loaded::Missing => {
                index.remove(key);
                None
            }
            disk::Loaded::Damaged => {
                index.remove(key);
                self.queue(Job::Delete(key.to_string()));
                None
            }
        }
    }

    /// The entry for `key`, from memory or disk (promoted to memory), fresh or not. Reads
    /// the disk on the calling thread: async callers use [`Zone::lookup`].
    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        match self.probe(key) {
            Probe::Here(e) => Some(e),
            Probe::Absent => None,
            Probe::Disk(ver) => self.load(key, ver),
        }
    }

    /// [`Zone::get`] for a worker: a read from disk runs on tokio's blocking pool, so the
    /// event loop goes on meanwhile.
    pub async fn lookup(self: &Arc<Self>, key: &str) -> Option<Arc<Entry>> {
        match self.probe(key) {
            Probe::Here(e) => Some(e),
            Probe::Absent => None,
            Probe::Disk(ver) => {
                let (z, k) = (self.clone(), key.to_string());
                tokio::task::spawn_blocking(move || z.load(&k, ver))
                    .await
                    .ok()
                    .flatten()
            }
        }
    }

    /// Stores an entry in memory and queues its disk write, then keeps the disk within
    /// `max_size`. The entry is servable as soon as this returns.
    pub fn put(&self, e: Entry) {
        use std::sync::atomic::Ordering::Relaxed;
        let e = Arc::new(e);
        let key = e.key.clone();
        self.mem.insert(key.clone(), e.clone());
        let meta = disk::meta(&e);
        let size = disk::file_size(&meta, &e.body);
        let body = e.body.len() as u64;
        if self.tier.pending_bytes.load(Relaxed) + body > MAX_PENDING {
            crate::observe::log(
                crate::observe::Level::Warn,
                &format!(
                    "cache \"{}\": disk writer is behind, entry kept in memory only",
                    self.name
                ),
                None,
            );
            // An older file of the key must not come back once memory evicts this one.
            self.unpend_and_delete(&key);
            return;
        }
        let ver = VER.fetch_add(1, Relaxed);
        // Index, pending map and queue change under the index lock, so concurrent stores
        // and purges of one key reach the writer in the order the index saw them.
        let mut index = self.index();
        index.insert(
            key.clone(),
            IndexItem {
                size,
                accessed: now_secs(),
                seq: next_seq(),
                ver,
                tags: e.tags.clone(),
            },
        );
        self.tier.pending_bytes.fetch_add(body, Relaxed);
        if let Some((_, old)) = self.tier.pending().insert(key, (ver, e.clone())) {
            self.tier
                .pending_bytes
                .fetch_sub(old.body.len() as u64, Relaxed);
        }
        self.queue(Job::Store {
            ver,
            entry: e,
            meta,
        });
        drop(index);
        self.enforce_limits();
    }

    fn queue(&self, job: Job) {
        if let Err(e) = self.writer.push(job) {
            self.tier
                .log(&format!("cannot start the disk writer thread: {e}"));
        }
    }

    /// Forgets `key`'s disk copy (index and pending store) and queues its file's removal;
    /// true if the disk had (or was to have) it.
    fn unpend_and_delete(&self, key: &str) -> bool {
        let mut index = self.index();
        let on_disk = index.remove(key).is_some();
        self.tier.unpend(key, None);
        if on_disk {
            self.queue(Job::Delete(key.to_string()));
        }
        on_disk
    }

    /// Removes one key; true if it was there. The file's removal is queued behind any
    /// store of it.
    pub fn remove(&self, key: &str) -> bool {
        let in_mem = self.mem.remove(key).is_some();
        let on_disk = self.unpend_and_delete(key);
        in_mem || on_disk
    }

    /// Waits (at most `limit`) until every disk write and delete queued so far is done;
    /// true if they all are.
    pub fn flush(&self, limit: Duration) -> bool {
        self.writer.flush(limit)
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

impl Drop for Zone {
    /// The writer finishes what is queued, then ends (a reload that replaced this zone).
    fn drop(&mut self) {
        self.writer.close();
    }
}

/// Waits (at most `limit` in all) for every zone's queued disk work, as the process exits;
/// logs what could not finish. True if everything did.
pub fn flush_all(limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    let writers: Vec<(String, writer::Queue<Job>)> = {
        let mut w = WRITERS.lock().unwrap_or_else(|e| e.into_inner());
        w.retain(|(_, q)| !q.exited() || q.backlog() > 0);
        w.clone()
    };
    let mut all = true;
    for (name, q) in writers {
        if !q.flush(deadline.saturating_duration_since(std::time::Instant::now())) {
            all = false;
            crate::observe::log(
                crate::observe::Level::Alert,
                &format!(
                    "cache \"{name}\": {} disk writes still queued after {}s, dropped at exit",
                    q.backlog(),
                    limit.as_secs()
                ),
                None,
            );
        }
    }
    all
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
    // A replaced zone over the same directory finishes its writes before the new one
    // reads the directory (and clears its temporary files).
    for old in zones.iter().filter(|o| o.name == name || o.path == path) {
        if !old.flush(Duration::from_secs(10)) {
            old.tier
                .log("disk writes of the replaced zone still queued after 10s");
        }
    }
    let z = Zone::open(name, path, levels, mem_size, max_size, inactive)?;
    zones.retain(|o| o.name != name);
    zones.push(z.clone());
    Ok(z)
}

#[cfg(test)]
mod tests;
