//! `limit_req_zone ... redis=URL`: the zone's state lives in Redis so every node enforces
//! one limit. Each decision is one server-side script (nginx's leaky bucket on Redis's own
//! clock, so nodes need no clock agreement), sent with EVALSHA and reloaded on NOSCRIPT.
//! Keys carry a hash tag (`{zone}`), so a zone's keys share a Redis Cluster slot.
//!
//! Pools (bb8, no PING on checkout) are per worker thread: a connection is driven by the
//! runtime that made it.

use super::Decision;
use bb8_redis::{bb8, RedisConnectionManager};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The leaky bucket in Redis. KEYS[1]: the state hash. ARGV: rate (milli-requests per
/// second), burst (milli-requests), account (0/1), expiry (ms). Returns {rejected(0/1),
/// excess}.
const SCRIPT: &str = r#"
local rate, burst, account, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = redis.call('HMGET', KEYS[1], 'e', 'l')
local excess = 0
if s[1] then
    local elapsed = now - tonumber(s[2])
    if elapsed < 0 then elapsed = 0 end
    excess = tonumber(s[1]) + 1000 - math.floor(rate * elapsed / 1000)
    if excess < 0 then excess = 0 end
end
if excess > burst then return {1, excess} end
if account then
    redis.call('HSET', KEYS[1], 'e', excess, 'l', now)
    redis.call('PEXPIRE', KEYS[1], ttl)
end
return {0, excess}
"#;

/// A zone's Redis settings.
#[derive(Debug)]
pub struct RedisLimit {
    pub url: String,
    pub zone: String,
    /// `redis_fail=open`: the local limiter decides while Redis is unreachable.
    pub fail_open: bool,
    pub timeout: Duration,
    /// When the last failure was logged (ms on `now_ms`), to log once per interval.
    last_logged: AtomicU64,
}

pub type Pool = bb8::Pool<RedisConnectionManager>;

thread_local! {
    static POOLS: RefCell<HashMap<String, Pool>> = RefCell::new(HashMap::new());
}

/// This worker's pool for `url` (made on first use; no PING on checkout, `timeout` to get
/// a connection). Shared by everything that talks to Redis (limits, the key store). Each
/// decision holds a connection for one round trip, so the pool bounds the decisions in
/// flight per worker: sized for a worker's usual concurrency (8 held throughput to half).
pub fn pool(url: &str, timeout: Duration) -> Result<Pool, String> {
    POOLS.with(|p| {
        if let Some(pool) = p.borrow().get(url) {
            return Ok(pool.clone());
        }
        let mgr = RedisConnectionManager::new(url).map_err(|e| e.to_string())?;
        let pool = bb8::Pool::builder()
            .max_size(32)
            .test_on_check_out(false)
            .connection_timeout(timeout)
            .build_unchecked(mgr);
        p.borrow_mut().insert(url.to_string(), pool.clone());
        Ok(pool)
    })
}

impl RedisLimit {
    pub fn new(
        url: &str,
        zone: &str,
        fail_open: bool,
        timeout: Duration,
    ) -> Result<RedisLimit, String> {
        redis::Client::open(url).map_err(|e| format!("invalid redis URL \"{url}\": {e}"))?;
        Ok(RedisLimit {
            url: url.to_string(),
            zone: zone.to_string(),
            fail_open,
            timeout,
            last_logged: AtomicU64::new(0),
        })
    }

    fn pool(&self) -> Result<Pool, String> {
        pool(&self.url, self.timeout)
    }

    /// One decision for `key` (same contract as `LimitZone::check`, `delay` included);
    /// `Err` when Redis could not answer within the timeout.
    pub async fn check(
        &self,
        key: &[u8],
        rate: u64,
        burst: u64,
        delay: u64,
        account: bool,
    ) -> Result<Decision, String> {
        let pool = self.pool()?;
        let mut k = format!("openclaw:limit:{{{}}}:", self.zone).into_bytes();
        k.extend_from_slice(key);
        // State is worth keeping until the bucket has drained (at least a minute).
        let ttl = ((burst + 1000) * 1000 / rate.max(1)).max(60_000);
        let fut = async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            // Made once: `Script::new` hashes the source (its EVALSHA name) every time.
            static COMPILED: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
            let script = COMPILED.get_or_init(|| redis::Script::new(SCRIPT));
            let (rejected, excess): (i64, i64) = script
                .key(k)
                .arg(rate)
                .arg(burst)
                .arg(if account { "1" } else { "0" })
                .arg(ttl)
                .invoke_async(&mut *conn)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((rejected, excess.max(0) as u64))
        };
        let (rejected, excess) = tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| format!("timed out after {} ms", self.timeout.as_millis()))??;
        if rejected == 1 {
            return Ok(Decision::Reject { excess });
        }
        if delay != u64::MAX && excess > delay {
            let ms = (excess - delay) * 1000 / rate.max(1);
            return Ok(Decision::Delay { ms, excess });
        }
        Ok(Decision::Pass)
    }

    /// True when a failure should be logged now (at most once every 10 s per zone).
    pub fn should_log(&self) -> bool {
        let now = super::now_ms();
        let last = self.last_logged.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < 10_000 {
            return false;
        }
        self.last_logged.store(now.max(1), Ordering::Relaxed);
        true
    }
}
