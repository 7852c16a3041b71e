//! Request rate limiting with nginx's `limit_req` arithmetic: a leaky bucket per key,
//! excess kept in milli-requests, `burst` and `delay` thresholds. Plain Rust, shared by all
//! workers; each check-and-update is one locked call (no get-then-set races).

mod redis;

pub use redis::{pool as redis_pool, Pool as RedisPool, RedisLimit};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// Per-key state: excess (milli-requests) and the last accounted time (ms).
#[derive(Debug, Clone, Copy)]
struct Node {
    excess: u64,
    last: u64,
}

/// What a check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Within the rate (or the undelayed part of the burst).
    Pass,
    /// Within the burst: hold the request this many milliseconds. `excess` in milli-requests.
    Delay { ms: u64, excess: u64 },
    /// Over the burst: reject. `excess` in milli-requests.
    Reject { excess: u64 },
}

const SHARDS: usize = 16;

/// One `limit_req_zone`.
pub struct LimitZone {
    pub name: String,
    /// Requests per second, times 1000.
    pub rate: u64,
    /// Keys kept at most (the zone size over a per-state cost); the oldest go first.
    max_keys: usize,
    shards: Vec<Mutex<HashMap<Vec<u8>, Node>>>,
}

impl std::fmt::Debug for LimitZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LimitZone({}, {} mr/s)", self.name, self.rate)
    }
}

type Zones = Mutex<HashMap<String, (usize, u64, Weak<LimitZone>)>>;
static ZONES: OnceLock<Zones> = OnceLock::new();

/// Bytes a key's state costs in a zone, as nginx's rbtree node roughly does.
const STATE_COST: usize = 128;

impl LimitZone {
    /// The zone `name`; the live one is kept (with its state) across reloads when size and
    /// rate are unchanged.
    pub fn zone(name: &str, size: usize, rate: u64) -> Arc<LimitZone> {
        let reg = ZONES.get_or_init(Default::default);
        let mut map = reg.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, r, w)) = map.get(name) {
            if *s == size && *r == rate {
                if let Some(z) = w.upgrade() {
                    return z;
                }
            }
        }
        let z = Arc::new(LimitZone::new(name, size, rate));
        map.insert(name.to_string(), (size, rate, Arc::downgrade(&z)));
        z
    }

    pub fn new(name: &str, size: usize, rate: u64) -> LimitZone {
        LimitZone {
            name: name.to_string(),
            rate: rate.max(1),
            max_keys: (size / STATE_COST).max(SHARDS),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, key: &[u8]) -> &Mutex<HashMap<Vec<u8>, Node>> {
        let h = key.iter().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ *b as u64).wrapping_mul(0x100000001b3)
        });
        &self.shards[(h as usize) % SHARDS]
    }

    /// nginx's `ngx_http_limit_req_lookup`: `burst` and `delay` in milli-requests
    /// (`delay == u64::MAX` is `nodelay`); `now_ms` a monotonic clock. With `account`
    /// false (a later zone already rejected), state is not changed.
    pub fn check(
        &self,
        key: &[u8],
        burst: u64,
        delay: u64,
        now_ms: u64,
        account: bool,
    ) -> Decision {
        let mut map = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        let excess = match map.get(key) {
            None => 0,
            Some(n) => {
                let elapsed = now_ms.saturating_sub(n.last);
                let leaked = self.rate.saturating_mul(elapsed) / 1000;
                (n.excess + 1000).saturating_sub(leaked)
            }
        };
        if excess > burst {
            return Decision::Reject { excess };
        }
        if account {
            if !map.contains_key(key) && map.len() >= self.max_keys / SHARDS {
                // Forget the stalest state of this shard to make room.
                if let Some(old) = map
                    .iter()
                    .min_by_key(|(_, n)| n.last)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&old);
                }
            }
            map.insert(
                key.to_vec(),
                Node {
                    excess,
                    last: now_ms,
                },
            );
        }
        if delay != u64::MAX && excess > delay {
            let ms = (excess - delay) * 1000 / self.rate;
            return Decision::Delay { ms, excess };
        }
        Decision::Pass
    }
}

impl LimitZone {
    /// A key's current excess (milli-requests), leaked to `now_ms`, without changing it.
    pub fn excess(&self, key: &[u8], now_ms: u64) -> u64 {
        let map = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            None => 0,
            Some(n) => {
                let elapsed = now_ms.saturating_sub(n.last);
                n.excess
                    .saturating_sub(self.rate.saturating_mul(elapsed) / 1000)
            }
        }
    }
}

/// Milliseconds on a monotonic clock shared by all threads.
pub fn now_ms() -> u64 {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    crate::clock::instant()
        .saturating_duration_since(start)
        .as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_zero_rate_is_exact_with_dense_arrivals() {
        // 100 r/s for 5 s, a request every 0.2 ms on the millisecond clock: within 2% of
        // 500 (+1 for the start).
        let z = LimitZone::new("t", 1 << 20, 100_000);
        let mut ok = 0;
        for i in 0..25_000u64 {
            let now_us = i * 200;
            if z.check(b"k", 0, u64::MAX, now_us / 1000, true) == Decision::Pass {
                ok += 1;
            }
        }
        assert!((491..=511).contains(&ok), "{ok}");
    }

    #[test]
    fn burst_zero_allows_one_per_interval() {
        // 10 r/s: one request every 100 ms.
        let z = LimitZone::new("t", 1 << 20, 10_000);
        assert_eq!(z.check(b"k", 0, u64::MAX, 0, true), Decision::Pass);
        assert!(matches!(
            z.check(b"k", 0, u64::MAX, 50, true),
            Decision::Reject { .. }
        ));
        assert_eq!(z.check(b"k", 0, u64::MAX, 100, true), Decision::Pass);
        assert_eq!(z.check(b"other", 0, u64::MAX, 100, true), Decision::Pass);
    }

    #[test]
    fn burst_with_delay_and_nodelay() {
        let z = LimitZone::new("t", 1 << 20, 1_000); // 1 r/s
        assert_eq!(z.check(b"k", 2000, 0, 0, true), Decision::Pass);
        // Second request at once: excess 1000 > delay 0 -> wait 1 s.
        assert_eq!(
            z.check(b"k", 2000, 0, 0, true),
            Decision::Delay {
                ms: 1000,
                excess: 1000
            }
        );
        assert_eq!(
            z.check(b"k", 2000, 0, 0, true),
            Decision::Delay {
                ms: 2000,
                excess: 2000
            }
        );
        assert!(matches!(
            z.check(b"k", 2000, 0, 0, true),
            Decision::Reject { excess: 3000 }
        ));
        let n = LimitZone::new("n", 1 << 20, 1_000);
        for _ in 0..3 {
            assert_eq!(n.check(b"k", 2000, u64::MAX, 0, true), Decision::Pass);
        }
        assert!(matches!(
            n.check(b"k", 2000, u64::MAX, 0, true),
            Decision::Reject { .. }
        ));
    }

    #[test]
    fn accuracy_over_five_seconds_at_100rps() {
        // 1,000 requests per second offered for 5 s against 100 r/s, burst 0, nodelay:
        // nginx admits ~500 (one per 10 ms).
        let z = LimitZone::new("t", 1 << 20, 100_000);
        let mut ok = 0;
        for ms in 0..5000u64 {
            if z.check(b"k", 0, u64::MAX, ms, true) == Decision::Pass {
                ok += 1;
            }
        }
        assert!((490..=510).contains(&ok), "{ok}");
    }
}

/// One `limit_conn_zone`: concurrent requests per key.
pub struct ConnZone {
    pub name: String,
    shards: Vec<Mutex<HashMap<Vec<u8>, u64>>>,
}

impl std::fmt::Debug for ConnZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnZone({})", self.name)
    }
}

type ConnZones = Mutex<HashMap<String, (usize, Weak<ConnZone>)>>;
static CONN_ZONES: OnceLock<ConnZones> = OnceLock::new();

/// A held slot of a `limit_conn` zone; released on drop (when the request ends).
#[derive(Debug)]
pub struct ConnSlot {
    zone: Arc<ConnZone>,
    key: Vec<u8>,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut map = self
            .zone
            .shard(&self.key)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

impl ConnZone {
    /// The zone `name`, kept across reloads while its size is unchanged.
    pub fn zone(name: &str, size: usize) -> Arc<ConnZone> {
        let reg = CONN_ZONES.get_or_init(Default::default);
        let mut map = reg.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, w)) = map.get(name) {
            if *s == size {
                if let Some(z) = w.upgrade() {
                    return z;
                }
            }
        }
        let z = Arc::new(ConnZone {
            name: name.to_string(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        });
        map.insert(name.to_string(), (size, Arc::downgrade(&z)));
        z
    }

    fn shard(&self, key: &[u8]) -> &Mutex<HashMap<Vec<u8>, u64>> {
        let h = key.iter().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ *b as u64).wrapping_mul(0x100000001b3)
        });
        &self.shards[(h as usize) % SHARDS]
    }

    /// Takes a slot for `key` unless `max` are in use (`dry`: count, never refuse).
    /// Returns the slot, or None when over the limit.
    pub fn acquire(self: &Arc<Self>, key: &[u8], max: u64) -> Option<ConnSlot> {
        let mut map = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(key.to_vec()).or_insert(0);
        if *n >= max {
            if *n == 0 {
                map.remove(key);
            }
            return None;
        }
        *n += 1;
        Some(ConnSlot {
            zone: self.clone(),
            key: key.to_vec(),
        })
    }

    /// Requests currently counted for `key`.
    pub fn count(&self, key: &[u8]) -> u64 {
        let map = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod conn_tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_released() {
        let z = ConnZone::zone("conn-test", 1 << 20);
        let a = z.acquire(b"k", 2).unwrap();
        let b = z.acquire(b"k", 2).unwrap();
        assert!(z.acquire(b"k", 2).is_none());
        assert_eq!(z.count(b"k"), 2);
        drop(a);
        let c = z.acquire(b"k", 2);
        assert!(c.is_some());
        drop((b, c));
        assert_eq!(z.count(b"k"), 0);
    }
}
