//! Shared dictionaries (`lua_shared_dict`): named zones shared by every worker thread, with
//! a byte capacity, least-recently-used eviction, per-key expiry, user flags and lists.
//! Every read-modify-write (`add`, `incr`, list pushes) is one call under the zone's lock.
//! Plain Rust: the Lua layer only converts arguments and calls these methods.

mod order;

use ahash::AHashMap;
use order::Order;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// What a dictionary stores.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Number(f64),
    Str(Vec<u8>),
    List(VecDeque<ListItem>),
}

/// List elements: numbers or strings, as in OpenResty.
#[derive(Debug, Clone, PartialEq)]
pub enum ListItem {
    Number(f64),
    Str(Vec<u8>),
}

/// Per-entry bookkeeping bytes, close to nginx's rbtree node and slab overhead.
const OVERHEAD: usize = 64;

#[derive(Debug)]
struct Entry {
    value: Value,
    flags: u32,
    expires: Option<Instant>,
    /// Its place in the use order.
    slot: u32,
    size: usize,
}

impl Entry {
    fn expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }
}

#[derive(Debug, Default)]
struct Inner {
    map: AHashMap<Box<[u8]>, Entry>,
    order: Order,
    used: usize,
}

/// The result of a store: `forcible` is true when valid entries were evicted for room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub forcible: bool,
}

/// Expected failures, worded as OpenResty returns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DictError {
    Exists,
    NotFound,
    NoMemory,
    NotANumber,
    NotAList,
}

impl DictError {
    pub fn as_str(self) -> &'static str {
        match self {
            DictError::Exists => "exists",
            DictError::NotFound => "not found",
            DictError::NoMemory => "no memory",
            DictError::NotANumber => "not a number",
            DictError::NotAList => "value not a list",
        }
    }
}

/// How a store treats existing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Set,
    Add,
    Replace,
}

pub struct ShDict {
    pub name: String,
    capacity: usize,
    inner: Mutex<Inner>,
}

/// Live zones by name, with their size.
type Zones = Mutex<HashMap<String, Vec<(usize, Weak<ShDict>)>>>;

static ZONES: OnceLock<Zones> = OnceLock::new();

fn size_of(key: &[u8], v: &Value) -> usize {
    let vs = match v {
        Value::Bool(_) => 1,
        Value::Number(_) => 8,
        Value::Str(s) => s.len(),
        Value::List(l) => l
            .iter()
            .map(|i| {
                16 + match i {
                    ListItem::Number(_) => 8,
                    ListItem::Str(s) => s.len(),
                }
            })
            .sum(),
    };
    OVERHEAD + key.len() + vs
}

impl ShDict {
    /// The zone called `name`: the live one when it exists with the same size (so
    /// contents survive a reload, as nginx keeps shm zones), else a new one.
    pub fn zone(name: &str, capacity: usize) -> Arc<ShDict> {
        let reg = ZONES.get_or_init(Default::default);
        let mut map = reg.lock().unwrap_or_else(|e| e.into_inner());
        // Several sizes can be live at once (a reload being built next to the running
        // generation); a failed attempt must not displace the zone in use.
        let entries = map.entry(name.to_string()).or_default();
        entries.retain(|(_, w)| w.strong_count() > 0);
        if let Some(d) = entries
            .iter()
            .find(|(size, _)| *size == capacity)
            .and_then(|(_, w)| w.upgrade())
        {
            return d;
        }
        let d = Arc::new(ShDict::new(name, capacity));
        entries.push((capacity, Arc::downgrade(&d)));
        d
    }

    pub fn new(name: &str, capacity: usize) -> ShDict {
        ShDict {
            name: name.to_string(),
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written entry (updates are
        // whole-entry replacements), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn free_space(&self) -> usize {
        self.capacity.saturating_sub(self.lock().used)
    }

    /// The live value and flags; expired entries count as missing.
    pub fn get(&self, key: &[u8]) -> Option<(Value, u32)> {
        self.with_live(key, |v, flags| (v.clone(), flags))
    }

    /// Calls `f` with the live value and flags of `key` (marking it used) without copying
    /// the value out; None when missing or expired.
    pub fn with_live<R>(&self, key: &[u8], f: impl FnOnce(&Value, u32) -> R) -> Option<R> {
        let mut g = self.lock();
        let now = crate::clock::instant();
        let g = &mut *g;
        let e = g.map.get(key).filter(|e| !e.expired(now))?;
        g.order.touch(e.slot);
        Some(f(&e.value, e.flags))
    }

    /// The value even if expired (not yet evicted); the bool says it is stale.
    pub fn get_stale(&self, key: &[u8]) -> Option<(Value, u32, bool)> {
        let g = self.lock();
        let now = crate::clock::instant();
        g.map
            .get(key)
            .map(|e| (e.value.clone(), e.flags, e.expired(now)))
    }

    /// `set`/`add`/`replace` (and their `safe_` forms with `safe`); `value: None` deletes.
    pub fn store(
        &self,
        key: &[u8],
        value: Option<Value>,
        ttl: Option<Duration>,
        flags: u32,
        mode: Mode,
        safe: bool,
    ) -> Result<Stored, DictError> {
        let mut g = self.lock();
        let now = crate::clock::instant();
        let exists = g.map.get(key).is_some_and(|e| !e.expired(now));
        match mode {
            Mode::Add if exists => return Err(DictError::Exists),
            Mode::Replace if !exists => return Err(DictError::NotFound),
            _ => {}
        }
        let Some(value) = value else {
            g.remove(key);
            return Ok(Stored { forcible: false });
        };
        let size = size_of(key, &value);
        g.remove(key);
        let forcible = g.make_room(size, self.capacity, safe, now)?;
        g.insert(
            key,
            value,
            flags,
            ttl.and_then(|t| now.checked_add(t)),
            size,
        );
        Ok(Stored { forcible })
    }

    pub fn delete(&self, key: &[u8]) {
        self.lock().remove(key);
    }

    /// Atomic increment; `init` creates a missing key (with `init_ttl`).
    pub fn incr(
        &self,
        key: &[u8],
        by: f64,
        init: Option<f64>,
        init_ttl: Option<Duration>,
    ) -> Result<(f64, Stored), DictError> {
        let mut g = self.lock();
        let now = crate::clock::instant();
        let live = g
            .map
            .get(key)
            .filter(|e| !e.expired(now))
            .map(|e| e.value.clone());
        match live {
            Some(Value::Number(n)) => {
                let v = n + by;
                g.touch(key);
                if let Some(e) = g.map.get_mut(key) {
                    e.value = Value::Number(v);
                }
                Ok((v, Stored { forcible: false }))
            }
            Some(_) => Err(DictError::NotANumber),
            None => {
                let Some(init) = init else {
                    return Err(DictError::NotFound);
                };
                let v = init + by;
                let value = Value::Number(v);
                let size = size_of(key, &value);
                g.remove(key);
                let forcible = g.make_room(size, self.capacity, false, now)?;
                g.insert(
                    key,
                    value,
                    0,
                    init_ttl.and_then(|t| now.checked_add(t)),
                    size,
                );
                Ok((v, Stored { forcible }))
            }
        }
    }

    /// `lpush`/`rpush`: the new length.
    pub fn push(&self, key: &[u8], item: ListItem, front: bool) -> Result<usize, DictError> {
        let mut g = self.lock();
        let now = crate::clock::instant();
        let live = g.map.get(key).is_some_and(|e| !e.expired(now));
        if !live {
            g.remove(key);
            let value = Value::List(VecDeque::from([item]));
            let size = size_of(key, &value);
            g.make_room(size, self.capacity, false, now)?;
            g.insert(key, value, 0, None, size);
            return Ok(1);
        }
        let add = size_of(b"", &Value::List(VecDeque::from([item.clone()]))) - OVERHEAD;
        match g.map.get(key).map(|e| matches!(e.value, Value::List(_))) {
            Some(true) => {}
            _ => return Err(DictError::NotAList),
        }
        if g.used + add > self.capacity {
            g.evict_for(add, self.capacity, now, Some(key));
            if g.used + add > self.capacity {
                return Err(DictError::NoMemory);
            }
        }
        g.touch(key);
        g.used += add;
        let e = g.map.get_mut(key).expect("checked above");
        e.size += add;
        let Value::List(l) = &mut e.value else {
            return Err(DictError::NotAList);
        };
        if front {
            l.push_front(item);
        } else {
            l.push_back(item);
        }
        Ok(l.len())
    }

    /// `lpop`/`rpop`.
    pub fn pop(&self, key: &[u8], front: bool) -> Result<Option<ListItem>, DictError> {
        let mut g = self.lock();
        let now = crate::clock::instant();
        if g.map.get(key).is_none_or(|e| e.expired(now)) {
            return Ok(None);
        }
        let (item, empty, freed) = {
            let e = g.map.get_mut(key).expect("checked above");
            let Value::List(l) = &mut e.value else {
                return Err(DictError::NotAList);
            };
            let item = if front { l.pop_front() } else { l.pop_back() };
            let freed = item.as_ref().map_or(0, |i| {
                16 + match i {
                    ListItem::Number(_) => 8,
                    ListItem::Str(s) => s.len(),
                }
            });
            e.size -= freed;
            (item, l.is_empty(), freed)
        };
        g.used -= freed;
        if empty {
            g.remove(key);
        }
        Ok(item)
    }

    pub fn llen(&self, key: &[u8]) -> Result<usize, DictError> {
        let g = self.lock();
        let now = crate::clock::instant();
        match g.map.get(key).filter(|e| !e.expired(now)) {
            None => Ok(0),
            Some(Entry {
                value: Value::List(l),
                ..
            }) => Ok(l.len()),
            Some(_) => Err(DictError::NotAList),
        }
    }

    /// Remaining time to live; `Some(None)` means no expiry.
    pub fn ttl(&self, key: &[u8]) -> Result<Option<Duration>, DictError> {
        let g = self.lock();
        let now = crate::clock::instant();
        match g.map.get(key).filter(|e| !e.expired(now)) {
            None => Err(DictError::NotFound),
            Some(e) => Ok(e.expires.map(|t| t.saturating_duration_since(now))),
        }
    }

    pub fn expire(&self, key: &[u8], ttl: Option<Duration>) -> Result<(), DictError> {
        let mut g = self.lock();
        let now = crate::clock::instant();
        match g.map.get_mut(key).filter(|e| !e.expired(now)) {
            None => Err(DictError::NotFound),
            Some(e) => {
                e.expires = ttl.and_then(|t| now.checked_add(t));
                Ok(())
            }
        }
    }

    /// lua-resty-limit-traffic's `resty.limit.req` step as one atomic update: the leaky
    /// bucket state (excess in milli-requests, last time in ms) lives in this dict under
    /// `key`. Returns the new excess, or None when it is over `burst` (nothing changes).
    /// With `uncommit`, gives one request back instead.
    pub fn leaky_bucket(
        &self,
        key: &[u8],
        rate: u64,
        burst: u64,
        now_ms: u64,
        commit: bool,
        uncommit: bool,
    ) -> Result<Option<u64>, DictError> {
        let mut g = self.lock();
        let now = crate::clock::instant();
        let prev = g
            .map
            .get(key)
            .filter(|e| !e.expired(now))
            .and_then(|e| match &e.value {
                Value::Str(b) if b.len() == 16 => {
                    let excess = u64::from_le_bytes(b[..8].try_into().ok()?);
                    let last = u64::from_le_bytes(b[8..].try_into().ok()?);
                    Some((excess, last))
                }
                _ => None,
            });
        let excess = if uncommit {
            match prev {
                Some((e, _)) => e.saturating_sub(1000),
                None => return Ok(Some(0)),
            }
        } else {
            match prev {
                None => 0,
                Some((e, last)) => {
                    let leaked = rate.saturating_mul(now_ms.saturating_sub(last)) / 1000;
                    (e + 1000).saturating_sub(leaked)
                }
            }
        };
        if !uncommit && excess > burst {
            return Ok(None);
        }
        if commit || uncommit {
            let last = if uncommit {
                prev.map(|p| p.1).unwrap_or(now_ms)
            } else {
                now_ms
            };
            let mut b = excess.to_le_bytes().to_vec();
            b.extend_from_slice(&last.to_le_bytes());
            let value = Value::Str(b);
            let size = size_of(key, &value);
            g.remove(key);
            g.make_room(size, self.capacity, false, now)?;
            g.insert(key, value, 0, None, size);
        }
        Ok(Some(excess))
    }

    /// Marks every entry expired (they stay readable by `get_stale` until evicted).
    pub fn flush_all(&self) {
        let mut g = self.lock();
        let now = crate::clock::instant();
        for e in g.map.values_mut() {
            e.expires = Some(now);
        }
    }

    /// Frees expired entries (at most `max`, 0 = all); returns how many.
    pub fn flush_expired(&self, max: usize) -> usize {
        let mut g = self.lock();
        let now = crate::clock::instant();
        let keys: Vec<Vec<u8>> = g
            .map
            .iter()
            .filter(|(_, e)| e.expired(now))
            .map(|(k, _)| k.to_vec())
            .take(if max == 0 { usize::MAX } else { max })
            .collect();
        for k in &keys {
            g.remove(k);
        }
        keys.len()
    }

    /// Live keys, at most `max` (0 = all).
    pub fn keys(&self, max: usize) -> Vec<Vec<u8>> {
        let g = self.lock();
        let now = crate::clock::instant();
        g.map
            .iter()
            .filter(|(_, e)| !e.expired(now))
            .map(|(k, _)| k.to_vec())
            .take(if max == 0 { usize::MAX } else { max })
            .collect()
    }
}

impl Inner {
    fn touch(&mut self, key: &[u8]) {
        if let Some(e) = self.map.get(key) {
            self.order.touch(e.slot);
        }
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some(e) = self.map.remove(key) {
            self.order.remove(e.slot);
            self.used -= e.size;
        }
    }

    fn insert(
        &mut self,
        key: &[u8],
        value: Value,
        flags: u32,
        expires: Option<Instant>,
        size: usize,
    ) {
        let slot = self.order.push_front(key);
        self.used += size;
        self.map.insert(
            key.into(),
            Entry {
                value,
                flags,
                expires,
                slot,
                size,
            },
        );
    }

    /// Frees room for `size` bytes walking from the least recently used end: expired
    /// entries go silently; live ones too unless `safe` (then `no memory`). `Ok(true)` when
    /// live entries were evicted. Only the entries it removes are visited.
    fn make_room(
        &mut self,
        size: usize,
        capacity: usize,
        safe: bool,
        now: Instant,
    ) -> Result<bool, DictError> {
        if size > capacity {
            return Err(DictError::NoMemory);
        }
        let mut forcible = false;
        while self.used + size > capacity {
            let Some(key) = self.order.lru().map(<[u8]>::to_vec) else {
                return Err(DictError::NoMemory);
            };
            let expired = self.map.get(key.as_slice()).is_some_and(|e| e.expired(now));
            if !expired {
                if safe {
                    return Err(DictError::NoMemory);
                }
                forcible = true;
            }
            self.remove(&key);
        }
        Ok(forcible)
    }

    /// Evicts least recently used entries (never `keep`) until `size` more bytes fit.
    fn evict_for(
        &mut self,
        size: usize,
        capacity: usize,
        _now: Instant,
        keep: Option<&[u8]>,
    ) -> bool {
        let mut forcible = false;
        while self.used + size > capacity {
            let victim = self
                .order
                .iter_lru()
                .find(|k| Some(*k) != keep)
                .map(<[u8]>::to_vec);
            let Some(k) = victim else { break };
            self.remove(&k);
            forcible = true;
        }
        forcible
    }
}

#[cfg(test)]
mod tests;
