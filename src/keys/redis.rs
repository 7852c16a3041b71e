//! The Redis key store: hash `openclaw:key:<sha256 hex of the key>` with fields `id`,
//! `tier`, `scopes` (comma-separated), `status`, `expires_at`. Lookups (found or not) are
//! cached for `api_key_cache_ttl`, so a key costs one Redis round trip per TTL per node.

use super::{check, Record, Refused};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

#[derive(Debug)]
pub struct RedisStore {
    pub url: String,
    pub timeout: Duration,
    cache: moka::sync::Cache<String, Option<Record>>,
}

fn redis_key(hex: &str) -> String {
    format!("openclaw:key:{hex}")
}

impl RedisStore {
    pub fn new(url: &str, cache_ttl: Duration, timeout: Duration) -> Result<RedisStore, String> {
        redis::Client::open(url).map_err(|e| format!("invalid redis URL \"{url}\": {e}"))?;
        Ok(RedisStore {
            url: url.to_string(),
            timeout,
            cache: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(cache_ttl.max(Duration::from_millis(1)))
                .build(),
        })
    }

    /// The record of a presented key; `Err` when Redis did not answer in time.
    pub async fn lookup(&self, key: &str) -> Result<Result<Record, Refused>, String> {
        let hex = super::hash_of(key)["sha256:".len()..].to_string();
        if let Some(hit) = self.cache.get(&hex) {
            return Ok(check(hit));
        }
        let pool = crate::limit::redis_pool(&self.url, self.timeout)?;
        let fut = async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            let fields: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(redis_key(&hex))
                .query_async(&mut *conn)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(fields)
        };
        let fields = tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| format!("timed out after {} ms", self.timeout.as_millis()))??;
        let rec = record(&fields);
        self.cache.insert(hex, rec.clone());
        Ok(check(rec))
    }
}

/// A record from the hash's fields (None when the hash is empty or has no id).
fn record(f: &HashMap<String, String>) -> Option<Record> {
    let id = f.get("id")?.clone();
    Some(Record {
        id,
        tier: f.get("tier").filter(|t| !t.is_empty()).cloned(),
        scopes: f
            .get("scopes")
            .map(|s| {
                s.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        revoked: f.get("status").is_some_and(|s| s == "revoked"),
        expires_at: f
            .get("expires_at")
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(SystemTime::from),
    })
}

/// Writes a record (the CLI's `add`, `revoke`, `rotate` on a Redis store).
pub async fn store(
    url: &str,
    hash_hex: &str,
    fields: &[(&str, String)],
    replace_of: Option<&str>,
) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    if let Some(old) = replace_of {
        let _: () = redis::cmd("DEL")
            .arg(redis_key(old))
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut cmd = redis::cmd("HSET");
    cmd.arg(redis_key(hash_hex));
    for (k, v) in fields {
        cmd.arg(*k).arg(v);
    }
    let _: () = cmd
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
