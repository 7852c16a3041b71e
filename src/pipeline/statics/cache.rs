//! A per-worker copy of small static files, checked against the file on every request.
//!
//! A hit costs one `statx` of the path instead of open, fstat, read and close. A copy is
//! used only while the file's device, inode, size, and modification and change times (to
//! the nanosecond) all match what they were when it was read, so a write, truncation,
//! rename over the file, chmod or removal is seen by the next request, as without the
//! cache. A file changed less than a second before it was read is not kept: the kernel
//! stamps those times from a coarse clock, so a write in the same tick as the read could
//! leave them equal ("racy git"); with the margin, any later change carries a newer
//! change time. nginx has no such cache (its `open_file_cache` keeps descriptors and
//! serves stale metadata for `open_file_cache_valid`); this one never serves stale bytes.
//!
//! Paths that were never kept cost a hash lookup and no extra system call.

use bytes::Bytes;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Files up to this size are kept: the ones `statics` reads whole.
const MAX_FILE: u64 = super::INLINE_MAX;
/// The most a worker keeps, counting paths and bookkeeping.
const BUDGET: usize = 16 * 1024 * 1024;
/// A file whose times are this recent when read is not kept (nanoseconds).
const SETTLE_NS: i128 = 1_000_000_000;
/// Bookkeeping per entry, counted against the budget.
const ENTRY_OVERHEAD: usize = 128;

/// What identifies a file's contents without reading them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

struct Entry {
    stamp: Stamp,
    body: Bytes,
    /// The cache's clock when last used, for eviction.
    used: u64,
}

#[derive(Default)]
struct Cache {
    map: HashMap<Box<str>, Entry, ahash::RandomState>,
    bytes: usize,
    clock: u64,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::default();
}

fn cost(path: &str, body: &Bytes) -> usize {
    path.len() + body.len() + ENTRY_OVERHEAD
}

/// The kept copy of `path` if it still matches the file, with the file's metadata from
/// the check. A copy that no longer matches is dropped.
pub fn get(path: &str) -> Option<(Bytes, Metadata)> {
    let (stamp, body) = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.clock += 1;
        let clock = c.clock;
        c.map.get_mut(path).map(|e| {
            e.used = clock;
            (e.stamp, e.body.clone())
        })
    })?;
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && Stamp::of(&m) == stamp => Some((body, m)),
        _ => {
            remove(path);
            None
        }
    }
}

/// Keeps `body`, the whole of `path` as read after `meta` was taken from the open file,
/// if it is small and was not changed just before.
pub fn put(path: &str, meta: &Metadata, body: &Bytes) {
    put_at(path, meta, body, now_ns());
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

fn ns((secs, nsec): (i64, i64)) -> i128 {
    secs as i128 * 1_000_000_000 + nsec as i128
}

fn put_at(path: &str, meta: &Metadata, body: &Bytes, now_ns: i128) {
    let stamp = Stamp::of(meta);
    let settled = ns(stamp.mtime) <= now_ns - SETTLE_NS && ns(stamp.ctime) <= now_ns - SETTLE_NS;
    if !settled || stamp.size > MAX_FILE || body.len() as u64 != stamp.size || !meta.is_file() {
        return;
    }
    let add = cost(path, body);
    if add > BUDGET {
        return;
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let c = &mut *c;
        if let Some(old) = c.map.remove(path) {
            c.bytes -= cost(path, &old.body);
        }
        if c.bytes + add > BUDGET {
            evict(c, BUDGET - BUDGET / 4);
        }
        c.clock += 1;
        let entry = Entry {
            stamp,
            body: body.clone(),
            used: c.clock,
        };
        c.map.insert(path.into(), entry);
        c.bytes += add;
    });
}

fn remove(path: &str) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(old) = c.map.remove(path) {
            c.bytes -= cost(path, &old.body);
        }
    });
}

/// Drops the least recently used copies until at most `target` bytes are kept: a quarter
/// of the budget at a time, so a full cache sorts once per many inserts, not each one.
fn evict(c: &mut Cache, target: usize) {
    let mut by_age: Vec<(u64, usize)> = c
        .map
        .iter()
        .map(|(k, e)| (e.used, cost(k, &e.body)))
        .collect();
    by_age.sort_unstable();
    let mut freed = 0;
    let mut cutoff = 0;
    for (used, size) in by_age {
        if c.bytes - freed <= target {
            break;
        }
        freed += size;
        cutoff = used;
    }
    c.map.retain(|_, e| e.used > cutoff);
    c.bytes -= freed;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(dir: &std::path::Path, name: &str, body: &[u8]) -> (String, Metadata) {
        let p = dir.join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(body).unwrap();
        let meta = f.metadata().unwrap();
        (p.to_str().unwrap().to_string(), meta)
    }

    /// A file written now and kept as if read a second later.
    fn kept(dir: &std::path::Path, name: &str, body: &'static [u8]) -> String {
        let (path, meta) = file(dir, name, body);
        put_at(
            &path,
            &meta,
            &Bytes::from_static(body),
            now_ns() + SETTLE_NS,
        );
        path
    }

    #[test]
    fn a_settled_file_is_served_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (path, meta) = file(dir.path(), "a.txt", b"one");
        let body = Bytes::from_static(b"one");
        // Just written: not kept.
        put_at(&path, &meta, &body, now_ns());
        assert!(get(&path).is_none());
        // As if read a second later.
        put_at(&path, &meta, &body, now_ns() + SETTLE_NS);
        let (got, m) = get(&path).expect("kept");
        assert_eq!(&got[..], b"one");
        assert_eq!(m.len(), 3);
        // Same size, new bytes: the change time moves, the copy goes.
        std::fs::write(&path, b"two").unwrap();
        assert!(get(&path).is_none());
        assert!(CACHE.with(|c| !c.borrow().map.contains_key(path.as_str())));
    }

    #[test]
    fn removed_renamed_and_grown_files_are_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let a = kept(dir.path(), "a", b"aaaa");
        assert!(get(&a).is_some());
        std::fs::remove_file(&a).unwrap();
        assert!(get(&a).is_none());

        let b = kept(dir.path(), "b", b"bbbb");
        let (c, _) = file(dir.path(), "c", b"cccc");
        std::fs::rename(&c, &b).unwrap();
        assert!(get(&b).is_none());

        let d = kept(dir.path(), "d", b"dddd");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&d)
            .unwrap()
            .write_all(b"!")
            .unwrap();
        assert!(get(&d).is_none());
    }

    #[test]
    fn big_or_short_reads_are_not_kept_and_the_budget_holds() {
        let dir = tempfile::tempdir().unwrap();
        let later = now_ns() + SETTLE_NS;
        let (a, meta) = file(dir.path(), "short", b"abcdef");
        put_at(&a, &meta, &Bytes::from_static(b"abc"), later);
        assert!(get(&a).is_none());

        let big = vec![b'x'; MAX_FILE as usize + 1];
        let (b, meta) = file(dir.path(), "big", &big);
        put_at(&b, &meta, &Bytes::from(big), later);
        assert!(get(&b).is_none());

        // Fill past the budget with 200 KB files: the oldest go, the newest stay.
        let body = vec![b'y'; 200 * 1024];
        let mut paths = Vec::new();
        for i in 0..(BUDGET / body.len() + 20) {
            let (p, meta) = file(dir.path(), &format!("f{i}"), &body);
            put_at(&p, &meta, &Bytes::from(body.clone()), now_ns() + SETTLE_NS);
            paths.push(p);
        }
        CACHE.with(|c| {
            let c = c.borrow();
            assert!(c.bytes <= BUDGET, "{} > {BUDGET}", c.bytes);
            let counted: usize = c.map.iter().map(|(k, e)| cost(k, &e.body)).sum();
            assert_eq!(counted, c.bytes);
        });
        let last = paths.last().unwrap();
        assert!(get(last).is_some());
        assert!(get(&paths[0]).is_none());
    }
}
