//! Whether and how long a response may be cached, as nginx decides: `X-Accel-Expires`,
//! then `Cache-Control`, then `Expires`, then `proxy_cache_valid`; `Set-Cookie` and
//! `Vary: *` keep a response out (unless `proxy_ignore_headers` names them).

use std::time::Duration;

/// One `proxy_cache_valid [codes|any] TIME` line.
#[derive(Debug, Clone)]
pub struct Valid {
    /// Empty: `any`.
    pub codes: Vec<u16>,
    pub ttl: Duration,
}

/// `proxy_ignore_headers`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ignore {
    pub x_accel_expires: bool,
    pub expires: bool,
    pub cache_control: bool,
    pub set_cookie: bool,
    pub vary: bool,
}

/// How long a response stays fresh, and its stale windows (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    pub ttl: u64,
    pub swr: u64,
    pub sie: u64,
}

/// The freshness of a response, or None when it must not be cached. `get` reads a
/// response header (first value).
pub fn freshness<'a>(
    status: u16,
    get: impl Fn(&str) -> Option<&'a str>,
    valid: &[Valid],
    ignore: Ignore,
    now: u64,
) -> Option<Freshness> {
    if !ignore.set_cookie && get("set-cookie").is_some() {
        return None;
    }
    if !ignore.vary && get("vary").is_some_and(|v| v.split(',').any(|t| t.trim() == "*")) {
        return None;
    }
    let mut swr = 0;
    let mut sie = 0;
    if !ignore.x_accel_expires {
        if let Some(v) = get("x-accel-expires") {
            let v = v.trim();
            let ttl = match v.strip_prefix('@') {
                Some(abs) => abs.parse::<u64>().ok().map(|t| t.saturating_sub(now)),
                None => v.parse::<u64>().ok(),
            };
            if let Some(ttl) = ttl {
                return (ttl > 0).then_some(Freshness { ttl, swr, sie });
            }
        }
    }
    if !ignore.cache_control {
        if let Some(cc) = get("cache-control") {
            let mut max_age = None;
            for d in cc.split(',') {
                let d = d.trim().to_ascii_lowercase();
                if d == "no-cache" || d == "no-store" || d == "private" {
                    return None;
                }
                let num = |p: &str| {
                    d.strip_prefix(p)
                        .and_then(|n| n.trim_matches('"').parse::<u64>().ok())
                };
                if let Some(n) = num("s-maxage=") {
                    max_age = Some(n);
                } else if let Some(n) = num("max-age=") {
                    max_age = max_age.or(Some(n));
                } else if let Some(n) = num("stale-while-revalidate=") {
                    swr = n;
                } else if let Some(n) = num("stale-if-error=") {
                    sie = n;
                }
            }
            if let Some(ttl) = max_age {
                return (ttl > 0).then_some(Freshness { ttl, swr, sie });
            }
        }
    }
    if !ignore.expires {
        if let Some(exp) = get("expires") {
            let t = httpdate::parse_http_date(exp.trim())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs());
            // An unparseable Expires means "already expired".
            let ttl = t.unwrap_or(0).saturating_sub(now);
            return (ttl > 0).then_some(Freshness { ttl, swr, sie });
        }
    }
    valid
        .iter()
        .find(|v| v.codes.is_empty() || v.codes.contains(&status))
        .map(|v| Freshness {
            ttl: v.ttl.as_secs(),
            swr,
            sie,
        })
        .filter(|f| f.ttl > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(status: u16, h: &[(&'static str, &'static str)], valid: &[Valid]) -> Option<Freshness> {
        let h = h.to_vec();
        freshness(
            status,
            |n| h.iter().find(|(k, _)| *k == n).map(|(_, v)| *v),
            valid,
            Ignore::default(),
            1_000_000,
        )
    }

    #[test]
    fn nginx_precedence() {
        let v = [Valid {
            codes: vec![200],
            ttl: Duration::from_secs(60),
        }];
        assert_eq!(fr(200, &[], &v).unwrap().ttl, 60);
        assert_eq!(fr(404, &[], &v), None);
        assert_eq!(
            fr(200, &[("cache-control", "max-age=5")], &v).unwrap().ttl,
            5
        );
        assert_eq!(
            fr(200, &[("cache-control", "max-age=5, s-maxage=9")], &v)
                .unwrap()
                .ttl,
            9
        );
        assert_eq!(
            fr(200, &[("cache-control", "private, max-age=5")], &v),
            None
        );
        assert_eq!(
            fr(
                200,
                &[("x-accel-expires", "7"), ("cache-control", "no-store")],
                &v
            )
            .unwrap()
            .ttl,
            7
        );
        assert_eq!(fr(200, &[("set-cookie", "a=b")], &v), None);
        assert_eq!(fr(200, &[("vary", "*")], &v), None);
        let f = fr(
            200,
            &[(
                "cache-control",
                "max-age=1, stale-while-revalidate=30, stale-if-error=60",
            )],
            &[],
        )
        .unwrap();
        assert_eq!((f.ttl, f.swr, f.sie), (1, 30, 60));
        assert_eq!(
            fr(200, &[("expires", "Thu, 01 Jan 1970 00:00:00 GMT")], &v),
            None
        );
    }
}
