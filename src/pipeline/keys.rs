//! The API-key step of the access phase (after `allow`/`deny`, before
//! `access_by_lua*`): read the key, look it up, check the scope, apply the rate limit.
//! Answers are short JSON errors that say nothing about the store: 401 without a key, 403
//! for an unknown, revoked or expired key or a missing scope, 429 over the limit (with
//! `Retry-After`). Every answer past the limiter carries `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining` and `X-RateLimit-Reset`.

use super::response::{Body, Response};
use super::RequestCtx;
use crate::config::{KeyLimit, KeySource, Tier};
use crate::observe::Level;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

fn json_error(code: u16, msg: &str) -> Response {
    let mut r = Response::new(code);
    r.headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.body = Body::Full(Bytes::from(format!("{{\"error\":\"{msg}\"}}\n")));
    r
}

fn presented(ctx: &RequestCtx, src: &KeySource) -> Option<String> {
    match src {
        KeySource::Header(h) => ctx.header(h.as_str()).map(str::to_string),
        KeySource::Arg(a) => {
            let args = ctx.args.as_deref()?;
            args.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == a).then(|| {
                    percent_encoding::percent_decode_str(v)
                        .decode_utf8_lossy()
                        .into_owned()
                })
            })
        }
    }
    .filter(|k| !k.is_empty())
}

/// Checks the request's key; `Some` is the answer when it fails.
pub async fn check(ctx: &mut RequestCtx) -> Option<Response> {
    ctx.conf.keys.source.as_ref()?;
    let conf = ctx.conf.keys.clone();
    let src = conf.source.as_ref()?;
    let global = ctx.gen.config.http.as_ref()?.keys.clone()?;
    let Some(key) = presented(ctx, src) else {
        ctx.log(Level::Info, "API key missing");
        return Some(json_error(401, "missing API key"));
    };
    let rec = match global.store.lookup(&key).await {
        Err(e) => {
            ctx.log(Level::Error, &format!("API key store failed: {e}"));
            return Some(json_error(503, "key store unavailable"));
        }
        Ok(Ok(r)) => r,
        Ok(Err(why)) => {
            ctx.log(Level::Info, &format!("API key refused: {}", why.as_str()));
            return Some(json_error(403, "invalid API key"));
        }
    };
    if conf.scopes.iter().any(|s| !rec.scopes.contains(s)) {
        ctx.log(
            Level::Info,
            &format!("API key \"{}\" lacks a required scope", rec.id),
        );
        ctx.api_key = Some(Box::new(rec));
        return Some(json_error(403, "insufficient scope"));
    }
    let limit = match &conf.limit {
        None => None,
        Some(KeyLimit::Tier) => match rec.tier.as_ref().and_then(|t| global.tiers.get(t)) {
            Some(t) => Some((t.clone(), rec.id.clone())),
            None => {
                if let Some(t) = &rec.tier {
                    ctx.log(
                        Level::Warn,
                        &format!("API key \"{}\" has an unknown tier \"{t}\"", rec.id),
                    );
                }
                None
            }
        },
        Some(KeyLimit::Fixed { tier, by }) => {
            let k = by
                .as_ref()
                .map(|c| c.eval(ctx))
                .unwrap_or_else(|| rec.id.clone());
            Some((tier.clone(), k))
        }
    };
    ctx.api_key = Some(Box::new(rec));
    let (tier, k) = limit?;
    limit_key(ctx, &tier, &k)
}

/// One leaky-bucket decision (nodelay): headers on success, a 429 over the limit.
fn limit_key(ctx: &mut RequestCtx, t: &Tier, key: &str) -> Option<Response> {
    let now = crate::limit::now_ms();
    let secs = |milli: u64| milli.div_ceil(t.rate.max(1));
    let mut h = HeaderMap::new();
    let mut put = |name: &'static str, v: u64| {
        h.insert(HeaderName::from_static(name), HeaderValue::from(v));
    };
    put("x-ratelimit-limit", t.burst / 1000 + 1);
    match t.zone.check(key.as_bytes(), t.burst, u64::MAX, now, true) {
        crate::limit::Decision::Reject { excess } => {
            put("x-ratelimit-remaining", 0);
            put("x-ratelimit-reset", secs(excess.saturating_sub(1000)));
            put("retry-after", secs(excess.saturating_sub(t.burst)).max(1));
            ctx.log(
                Level::Error,
                &format!(
                    "limiting requests by API key, excess: {}.{:03} by tier of \"{key}\"",
                    excess / 1000,
                    excess % 1000
                ),
            );
            let mut r = json_error(429, "rate limit exceeded");
            for (k, v) in h.iter() {
                r.headers.insert(k.clone(), v.clone());
            }
            Some(r)
        }
        _ => {
            let excess = t.zone.excess(key.as_bytes(), now);
            put(
                "x-ratelimit-remaining",
                t.burst.saturating_sub(excess) / 1000,
            );
            put("x-ratelimit-reset", secs(excess));
            let early = ctx.early_headers.get_or_insert_with(super::HeaderList::new);
            for (k, v) in h.iter() {
                early.insert(k.clone(), v.clone());
            }
            None
        }
    }
}
