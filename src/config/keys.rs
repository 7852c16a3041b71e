//! API-key directives: `api_key_store`, `api_key_tier`, `api_key_cache_ttl` (http) and
//! `api_key_check_header`/`_arg`, `api_key_scope`, `api_key_limit_rate` (locations).

use super::values;
use super::{Builder, Directive, LocConf};
use crate::error::Result;
use crate::keys::{FileStore, RedisStore, Store};
use crate::limit::LimitZone;
use crate::vars::Complex;
use std::collections::HashMap;
use std::sync::Arc;

/// A tier: its limiter (one state per key id) and burst.
#[derive(Debug, Clone)]
pub struct Tier {
    pub zone: Arc<LimitZone>,
    /// Requests per second, times 1000.
    pub rate: u64,
    /// Milli-requests.
    pub burst: u64,
}

/// The http-level key setup.
#[derive(Debug, Clone)]
pub struct KeysGlobal {
    pub store: Arc<Store>,
    pub tiers: HashMap<String, Tier>,
}

/// Where a location reads the key.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A request header (lowercase name).
    Header(String),
    /// A query argument.
    Arg(String),
}

/// `api_key_limit_rate tier | RATE [burst=N] [by $var]`.
#[derive(Debug, Clone)]
pub enum KeyLimit {
    Tier,
    Fixed { tier: Tier, by: Option<Complex> },
}

/// A location's key settings.
#[derive(Debug, Clone, Default)]
pub struct KeysConf {
    pub source: Option<KeySource>,
    pub scopes: Vec<String>,
    pub limit: Option<KeyLimit>,
}

/// `Nr/s` or `Nr/m` as milli-requests per second.
fn rate(d: &Directive, v: &str) -> Result<u64> {
    let bad = || d.err(format!("invalid rate \"{v}\""));
    let (num, per_min) = if let Some(n) = v.strip_suffix("r/s") {
        (n, false)
    } else if let Some(n) = v.strip_suffix("r/m") {
        (n, true)
    } else {
        return Err(bad());
    };
    let n = values::number(num).filter(|n| *n > 0).ok_or_else(bad)?;
    Ok(if per_min { n * 1000 / 60 } else { n * 1000 })
}

fn burst(d: &Directive, v: &str) -> Result<u64> {
    values::number(v)
        .map(|n| n * 1000)
        .ok_or_else(|| d.err(format!("invalid burst value \"{v}\"")))
}

/// Reads the http-level directives into `b.keys`.
pub fn build_global(b: &mut Builder, body: &[Directive]) -> Result<()> {
    let mut tiers = HashMap::new();
    for d in body.iter().filter(|x| x.name == "api_key_tier") {
        let name = d.args[0].clone();
        let mut r = None;
        let mut bu = 0;
        for p in &d.args[1..] {
            if let Some(v) = p.strip_prefix("rate=") {
                r = Some(rate(d, v)?);
            } else if let Some(v) = p.strip_prefix("burst=") {
                bu = burst(d, v)?;
            } else {
                return Err(d.err(format!("invalid parameter \"{p}\"")));
            }
        }
        let r = r.ok_or_else(|| d.err("\"api_key_tier\" must have \"rate\" parameter"))?;
        if tiers.contains_key(&name) {
            return Err(d.err(format!("duplicate tier \"{name}\"")));
        }
        let zone = LimitZone::zone(&format!("api_key_tier:{name}"), 16 << 20, r);
        tiers.insert(
            name,
            Tier {
                zone,
                rate: r,
                burst: bu,
            },
        );
    }
    let mut cache_ttl = std::time::Duration::from_secs(30);
    for d in body.iter().filter(|x| x.name == "api_key_cache_ttl") {
        cache_ttl = values::time(&d.args[0])
            .ok_or_else(|| d.err(format!("invalid value \"{}\"", d.args[0])))?;
    }
    let Some(d) = body.iter().rfind(|x| x.name == "api_key_store") else {
        if let Some(t) = body.iter().find(|x| x.name == "api_key_tier") {
            return Err(t.err("\"api_key_tier\" needs an \"api_key_store\""));
        }
        return Ok(());
    };
    let spec = &d.args[0];
    let store = if let Some(p) = spec.strip_prefix("file:") {
        Store::File(FileStore::open(&b.full_path(p)).map_err(|e| d.err(e))?)
    } else if spec.starts_with("redis://") {
        let timeout = std::time::Duration::from_millis(500);
        Store::Redis(RedisStore::new(spec, cache_ttl, timeout).map_err(|e| d.err(e))?)
    } else {
        return Err(d.err(format!("invalid key store \"{spec}\"")));
    };
    b.keys = Some(Arc::new(KeysGlobal {
        store: Arc::new(store),
        tiers,
    }));
    Ok(())
}

/// Applies one location-level key directive.
pub fn apply(b: &mut Builder, conf: &mut LocConf, d: &Directive) -> Result<()> {
    if b.keys.is_none() {
        return Err(d.err(format!("\"{}\" needs an \"api_key_store\"", d.name)));
    }
    let k = Arc::make_mut(&mut conf.keys);
    let a = &d.args;
    match d.name.as_str() {
        "api_key_check_header" => k.source = Some(KeySource::Header(a[0].to_ascii_lowercase())),
        "api_key_check_arg" => k.source = Some(KeySource::Arg(a[0].clone())),
        "api_key_scope" => k.scopes = a.clone(),
        "api_key_limit_rate" => {
            if a[0] == "tier" {
                k.limit = Some(KeyLimit::Tier);
                return Ok(());
            }
            let r = rate(d, &a[0])?;
            let mut bu = 0;
            let mut by = None;
            let mut it = a[1..].iter();
            while let Some(p) = it.next() {
                if let Some(v) = p.strip_prefix("burst=") {
                    bu = burst(d, v)?;
                } else if p == "by" {
                    let v = it.next().ok_or_else(|| d.err("\"by\" needs a value"))?;
                    by = Some(b.complex(d, v)?);
                } else {
                    return Err(d.err(format!("invalid parameter \"{p}\"")));
                }
            }
            let zone =
                LimitZone::zone(&format!("api_key_limit:{}:{}", d.file, d.line), 16 << 20, r);
            k.limit = Some(KeyLimit::Fixed {
                tier: Tier {
                    zone,
                    rate: r,
                    burst: bu,
                },
                by,
            });
        }
        _ => {}
    }
    Ok(())
}
