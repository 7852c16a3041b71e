//! `proxy_cache_path` zones and the `proxy_cache*` settings of a location.

use super::values;
use super::{Builder, Directive};
use crate::cache::policy::{Ignore, Valid};
use crate::error::Result;
use crate::vars::Complex;
use std::sync::Arc;
use std::time::Duration;

/// `proxy_cache_use_stale` conditions: the same bits as `proxy_next_upstream`'s.
pub use super::proxy::next as stale;

/// The cache settings of a location.
#[derive(Debug, Clone)]
pub struct CacheConf {
    pub zone: Option<Arc<crate::cache::Zone>>,
    /// `proxy_cache_key`; nginx's default `$scheme$proxy_host$request_uri` when None.
    pub key: Option<Complex>,
    pub valid: Vec<Valid>,
    pub methods: Vec<http::Method>,
    pub min_uses: u32,
    pub bypass: Vec<Complex>,
    pub no_cache: Vec<Complex>,
    pub use_stale: u32,
    pub lock: bool,
    pub lock_timeout: Duration,
    pub revalidate: bool,
    /// `proxy_cache_background_update`: with `proxy_cache_use_stale updating`, an expired
    /// entry is served at once while a background subrequest refreshes it.
    pub background_update: bool,
    /// `proxy_cache_lock_age` (5s): a fetch holding the lock longer lets one more go.
    pub lock_age: Duration,
    pub ignore: Ignore,
    /// `proxy_cache_purge` (nginx Plus syntax).
    pub purge: Vec<Complex>,
}

impl Default for CacheConf {
    fn default() -> Self {
        CacheConf {
            zone: None,
            key: None,
            valid: vec![],
            methods: vec![http::Method::GET, http::Method::HEAD],
            min_uses: 1,
            bypass: vec![],
            no_cache: vec![],
            use_stale: 0,
            lock: false,
            lock_timeout: Duration::from_secs(5),
            revalidate: false,
            background_update: false,
            lock_age: Duration::from_secs(5),
            ignore: Ignore::default(),
            purge: vec![],
        }
    }
}

/// `proxy_cache_path PATH [levels=1:2] keys_zone=NAME:SIZE [max_size=] [inactive=]
/// [use_temp_path=] [memory=SIZE]`.
pub fn cache_path(b: &mut Builder, d: &Directive) -> Result<()> {
    let path = b.full_path(&d.args[0]);
    let mut levels = vec![];
    let mut zone: Option<(String, u64)> = None;
    let mut max_size = 0;
    let mut inactive = Duration::from_secs(600);
    let mut memory = None;
    for p in &d.args[1..] {
        let bad = || d.err(format!("invalid parameter \"{p}\""));
        if let Some(v) = p.strip_prefix("levels=") {
            for l in v.split(':') {
                match l.parse::<usize>() {
                    Ok(n @ 1..=2) if levels.len() < 3 => levels.push(n),
                    _ => return Err(d.err(format!("invalid \"levels\" \"{v}\""))),
                }
            }
        } else if let Some(v) = p.strip_prefix("keys_zone=") {
            let (n, s) = v.split_once(':').ok_or_else(bad)?;
            let size =
                values::size(s).ok_or_else(|| d.err(format!("invalid keys zone size \"{p}\"")))?;
            zone = Some((n.to_string(), size));
        } else if let Some(v) = p.strip_prefix("max_size=") {
            max_size = values::size(v).ok_or_else(bad)?;
        } else if let Some(v) = p.strip_prefix("inactive=") {
            inactive = values::time(v).ok_or_else(bad)?;
        } else if let Some(v) = p.strip_prefix("memory=") {
            memory = Some(values::size(v).ok_or_else(bad)?);
        } else if p.starts_with("use_temp_path=")
            || p.starts_with("loader_")
            || p.starts_with("manager_")
            || p.starts_with("min_free=")
        {
            // nginx's loader and manager tuning: nothing to tune here.
        } else {
            return Err(bad());
        }
    }
    let Some((name, keys)) = zone else {
        return Err(d.err("\"proxy_cache_path\" must have \"keys_zone\" parameter"));
    };
    if b.cache_zones.contains_key(&name) {
        return Err(d.err(format!("duplicate zone \"{name}\"")));
    }
    // The memory tier: `memory=` or 64 MB, never more than max_size; keys_zone only names.
    let _ = keys;
    let mem = memory
        .unwrap_or(64 << 20)
        .min(if max_size > 0 { max_size } else { u64::MAX });
    let z =
        crate::cache::zone(&name, path.clone(), levels, mem, max_size, inactive).map_err(|e| {
            d.err(format!(
                "cannot open the cache directory \"{}\" ({})",
                path.display(),
                crate::error::strerror(&e)
            ))
        })?;
    b.cache_zones.insert(name, z);
    Ok(())
}

/// Applies one `proxy_cache*`, `proxy_no_cache` or `proxy_ignore_headers` directive.
pub fn apply(b: &mut Builder, c: &mut CacheConf, d: &Directive, first: bool) -> Result<()> {
    let a = &d.args;
    let name = d.name.as_str();
    let time = |v: &str| {
        values::time(v)
            .ok_or_else(|| d.err(format!("invalid value \"{v}\" in \"{name}\" directive")))
    };
    match name {
        "proxy_cache" => {
            c.zone = match a[0].as_str() {
                "off" => None,
                z if z.contains('$') => {
                    return Err(d.err("variables in \"proxy_cache\" are not supported by openclaw"))
                }
                z => Some(
                    b.cache_zones
                        .get(z)
                        .cloned()
                        .ok_or_else(|| d.err(format!("\"proxy_cache\" zone \"{z}\" is unknown")))?,
                ),
            }
        }
        "proxy_cache_key" => c.key = Some(b.complex(d, &a[0])?),
        "proxy_cache_valid" => {
            if first {
                c.valid.clear();
            }
            let ttl = time(a.last().map(String::as_str).unwrap_or(""))?;
            let mut codes = vec![];
            let spec = &a[..a.len() - 1];
            if spec.is_empty() {
                codes = vec![200, 301, 302];
            }
            for s in spec {
                if s == "any" {
                    codes.clear();
                    break;
                }
                match s.parse::<u16>() {
                    Ok(n) if (100..=599).contains(&n) => codes.push(n),
                    _ => return Err(d.err(format!("invalid status \"{s}\""))),
                }
            }
            c.valid.push(Valid { codes, ttl });
        }
        "proxy_cache_methods" => {
            let mut m = vec![http::Method::GET, http::Method::HEAD];
            for v in a {
                match v.as_str() {
                    "GET" | "HEAD" => {}
                    "POST" => m.push(http::Method::POST),
                    _ => return Err(d.err(format!("invalid value \"{v}\""))),
                }
            }
            c.methods = m;
        }
        "proxy_cache_min_uses" => {
            c.min_uses = values::number(&a[0])
                .filter(|n| *n > 0)
                .ok_or_else(|| d.err(format!("invalid number \"{}\"", a[0])))?
                as u32
        }
        "proxy_cache_bypass" | "proxy_no_cache" | "proxy_cache_purge" => {
            let list = match name {
                "proxy_cache_bypass" => &mut c.bypass,
                "proxy_no_cache" => &mut c.no_cache,
                _ => &mut c.purge,
            };
            if first {
                list.clear();
            }
            for v in a {
                list.push(b.complex(d, v)?);
            }
        }
        "proxy_cache_use_stale" => c.use_stale = stale::parse(d, ("updating", stale::UPDATING))?,
        "proxy_cache_background_update" => c.background_update = a[0] == "on",
        "proxy_cache_lock" => c.lock = a[0] == "on",
        "proxy_cache_lock_timeout" => c.lock_timeout = time(&a[0])?,
        "proxy_cache_lock_age" => c.lock_age = time(&a[0])?,
        "proxy_cache_revalidate" => c.revalidate = a[0] == "on",
        "proxy_ignore_headers" => {
            let mut ig = Ignore::default();
            for v in a {
                match v.as_str() {
                    "X-Accel-Expires" => ig.x_accel_expires = true,
                    "Expires" => ig.expires = true,
                    "Cache-Control" => ig.cache_control = true,
                    "Set-Cookie" => ig.set_cookie = true,
                    "Vary" => ig.vary = true,
                    "X-Accel-Redirect" | "X-Accel-Limit-Rate" | "X-Accel-Buffering"
                    | "X-Accel-Charset" => {}
                    _ => return Err(d.err(format!("invalid value \"{v}\""))),
                }
            }
            c.ignore = ig;
        }
        _ => {}
    }
    Ok(())
}
