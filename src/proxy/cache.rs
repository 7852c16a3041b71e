//! `proxy_cache` in the proxy path: lookup (with `Vary` variants), purge, the cache lock,
//! stale answers, revalidation, and storing a response as it streams to the client.

use crate::cache::policy::freshness;
use crate::cache::{now_secs, Entry, Zone};
use crate::config::{cache_stale as stale, CacheConf, ProxyConf};
use crate::pipeline::{self, Body, RequestCtx, Response};
use crate::vars::Complex;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use hyper::body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A cached body is kept only up to this size (larger responses pass uncached).
const MAX_ENTRY: usize = 64 << 20;

/// What the cache decided before going upstream.
pub enum Prepared {
    /// Answered from the cache (HIT, STALE, UPDATING) or a purge.
    Respond(Response),
    /// Go upstream; with a plan when the cache is in play.
    Fetch(Option<Plan>),
}

/// A cache miss (or bypass, or expiry) on its way upstream.
pub struct Plan {
    zone: Arc<Zone>,
    key: String,
    vkey: String,
    pub status: &'static str,
    stale: Option<Arc<Entry>>,
    store: bool,
    /// The cache lock's token while this plan holds it.
    lock: Option<u64>,
    conf: Arc<CacheConf>,
}

impl Drop for Plan {
    fn drop(&mut self) {
        if let Some(t) = self.lock.take() {
            self.zone.unlock(&self.vkey, t);
        }
    }
}

/// True when any value is non-empty and not "0" (nginx's `proxy_cache_bypass` test).
fn truthy(ctx: &RequestCtx, list: &[Complex]) -> bool {
    list.iter().any(|c| {
        let v = c.eval(ctx);
        !v.is_empty() && v != "0"
    })
}

fn variant_key(ctx: &RequestCtx, key: &str, names: &[String]) -> String {
    let mut k = format!("{key}\n");
    for n in names {
        k.push_str(n);
        k.push('=');
        k.push_str(ctx.header(n.as_str()).unwrap_or(""));
        k.push('\n');
    }
    k
}

/// The entry for a request: follows a `Vary` marker to the variant. Returns the entry and
/// the key it lives (or would live) under. Disk reads run off the worker.
async fn find(zone: &Arc<Zone>, ctx: &RequestCtx, key: &str) -> (Option<Arc<Entry>>, String) {
    match zone.lookup(key).await {
        Some(e) if !e.vary.is_empty() => {
            let vk = variant_key(ctx, key, &e.vary);
            (zone.lookup(&vk).await, vk)
        }
        other => (other, key.to_string()),
    }
}

/// The response for a cached entry.
pub fn serve(ctx: &RequestCtx, e: &Entry, status: &'static str) -> Response {
    let mut r = Response::new(e.status);
    let head = e.head.get_or_init(|| {
        // Room for what the filters add, so a hit's inserts do not rebuild the index.
        let mut h = Vec::with_capacity(e.headers.len());
        for (k, v) in &e.headers {
            // The values are shared with the entry, not copied.
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_maybe_shared(v.clone()),
            ) {
                h.push((n, v));
            }
        }
        h
    });
    // Room for what the filters add.
    r.headers = crate::pipeline::HeaderList::with_capacity(head.len() + 8);
    r.headers.extend_from_slice(head);
    if ctx.method == http::Method::HEAD {
        r.headers.insert(
            http::header::CONTENT_LENGTH,
            HeaderValue::from(e.body.len()),
        );
    } else {
        r.body = Body::Full(e.body.clone());
    }
    r.keep_location = true;
    r.memo = Some(Arc::new(Memo(e.encoded.clone())));
    if let Some(u) = &ctx.upstream {
        u.borrow_mut().cache_status = Some(status);
    }
    r
}

/// A cache entry's encoded bodies, for the compression filter.
struct Memo(Arc<std::sync::Mutex<Vec<(String, i32, Bytes)>>>);

impl pipeline::CompressMemo for Memo {
    fn get(&self, coding: &str, level: i32) -> Option<Bytes> {
        let v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        v.iter()
            .find(|(c, l, _)| c == coding && *l == level)
            .map(|(_, _, b)| b.clone())
    }

    fn put(&self, coding: &str, level: i32, data: Bytes) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !v.iter().any(|(c, l, _)| c == coding && *l == level) {
            v.push((coding.to_string(), level, data));
        }
    }
}

/// Purge (nginx Plus syntax): the key, a prefix when it ends in `*`, or the tags of a
/// `Surrogate-Key` request header. 204 when something went, 404 otherwise.
fn purge(ctx: &RequestCtx, zone: &Zone, key: &str) -> Response {
    let tags: Vec<String> = ctx
        .header("surrogate-key")
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let n = if !tags.is_empty() {
        zone.purge(None, None, &tags)
    } else if let Some(prefix) = key.strip_suffix('*') {
        zone.purge(None, Some(prefix), &[])
    } else {
        zone.purge(Some(key), None, &[])
    };
    let code = if n > 0 { 204 } else { 404 };
    let mut r = pipeline::special_response(ctx, code);
    if code == 204 {
        r.body = Body::Empty;
        r.headers.remove(http::header::CONTENT_TYPE);
    }
    r
}

/// Looks the request up before any upstream work.
pub async fn prepare(ctx: &mut RequestCtx, conf: &ProxyConf, proxy_host: &str) -> Prepared {
    let c = conf.cache.clone();
    let Some(zone) = c.zone.clone() else {
        return Prepared::Fetch(None);
    };
    let key = match &c.key {
        Some(k) => k.eval(ctx),
        // nginx's default `$scheme$proxy_host$request_uri`, without the formatting machinery.
        None => {
            let (scheme, uri) = (ctx.scheme(), ctx.request_uri.as_str());
            let mut k = String::with_capacity(scheme.len() + proxy_host.len() + uri.len());
            k.push_str(scheme);
            k.push_str(proxy_host);
            k.push_str(uri);
            k
        }
    };
    if truthy(ctx, &c.purge) {
        return Prepared::Respond(purge(ctx, &zone, &key));
    }
    if !c.methods.contains(&ctx.method) {
        return Prepared::Fetch(None);
    }
    let store = !truthy(ctx, &c.no_cache);
    let mut plan = Plan {
        zone: zone.clone(),
        key: key.clone(),
        vkey: key.clone(),
        status: "MISS",
        stale: None,
        store,
        lock: None,
        conf: c.clone(),
    };
    if let Some((vkey, token)) = ctx.cache_update.clone() {
        // A background update: its parent took the lock and handed it over.
        plan.status = "EXPIRED";
        plan.vkey = vkey;
        plan.lock = Some(token);
        return Prepared::Fetch(Some(plan));
    }
    if truthy(ctx, &c.bypass) {
        plan.status = "BYPASS";
        return Prepared::Fetch(Some(plan));
    }
    let (entry, vkey) = find(&zone, ctx, &key).await;
    plan.vkey = vkey;
    let now = now_secs();
    if let Some(e) = entry {
        if e.fresh(now) {
            return Prepared::Respond(serve(ctx, &e, "HIT"));
        }
        plan.status = "EXPIRED";
        plan.stale = Some(e);
    }
    let may_update_stale = plan.stale.as_ref().is_some_and(|e| {
        c.use_stale & stale::UPDATING != 0 || now < e.expires.saturating_add(e.swr)
    });
    if c.lock || may_update_stale {
        let age = c.lock.then_some(c.lock_age);
        if let Some(token) = zone.try_lock(&plan.vkey, age) {
            plan.lock = Some(token);
            if c.background_update && may_update_stale && background_update(ctx, &mut plan) {
                let e = plan.stale.clone().expect("checked above");
                return Prepared::Respond(serve(ctx, &e, "STALE"));
            }
        } else if may_update_stale {
            let e = plan.stale.clone().expect("checked above");
            return Prepared::Respond(serve(ctx, &e, "UPDATING"));
        } else {
            zone.wait_unlock(&plan.vkey, c.lock_timeout, age).await;
            let (entry, vkey) = find(&zone, ctx, &key).await;
            if let Some(e) = entry.filter(|e| e.fresh(now_secs())) {
                return Prepared::Respond(serve(ctx, &e, "HIT"));
            }
            // nginx: a lock held past lock_age is taken over (this fetch caches); after the
            // lock timeout the response is fetched but not cached.
            plan.vkey = vkey;
            plan.lock = if plan.store {
                zone.try_lock(&plan.vkey, age)
            } else {
                None
            };
            plan.store = plan.lock.is_some();
        }
    }
    Prepared::Fetch(Some(plan))
}

/// Starts the subrequest that refreshes `plan`'s expired entry and hands it the lock;
/// false when it cannot run here (the request then fetches in the foreground).
fn background_update(ctx: &RequestCtx, plan: &mut Plan) -> bool {
    if !pipeline::can_spawn_background() {
        return false;
    }
    let mut sub = match pipeline::subrequest(
        ctx,
        http::Method::GET,
        &ctx.uri,
        ctx.args.clone(),
        None,
        false,
    ) {
        Ok(s) => s,
        Err(e) => {
            ctx.log(crate::observe::Level::Error, &e);
            return false;
        }
    };
    let Some(token) = plan.lock else {
        return false;
    };
    sub.cache_update = Some((plan.vkey.clone(), token));
    let spawned = pipeline::spawn_background(async move {
        let resp = Box::pin(pipeline::process_internal(&mut sub)).await;
        // Reading the body to its end is what stores it.
        let _ = resp.body.into_bytes(MAX_ENTRY as u64).await;
    });
    // The subrequest's plan releases the lock now.
    if spawned {
        plan.lock = None;
    }
    spawned
}

impl Plan {
    /// Conditional headers for `proxy_cache_revalidate`.
    pub fn conditional(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = vec![];
        let Some(e) = self.stale.as_ref().filter(|_| self.conf.revalidate) else {
            return out;
        };
        for (k, v) in &e.headers {
            let cond = match k.as_str() {
                "etag" => http::header::IF_NONE_MATCH,
                "last-modified" => http::header::IF_MODIFIED_SINCE,
                _ => continue,
            };
            if let Ok(v) = HeaderValue::from_bytes(v) {
                out.push((cond, v));
            }
        }
        out
    }

    /// The stale entry to serve when the upstream failed with `code` (502/504 from the
    /// gateway, `kind_bit` the failure's `proxy_cache_use_stale` bit) or answered `code`.
    pub fn stale_for(&self, bit: u32) -> Option<Arc<Entry>> {
        let e = self.stale.as_ref()?;
        let now = now_secs();
        let allowed = self.conf.use_stale & bit != 0 || now < e.expires.saturating_add(e.sie);
        allowed.then(|| e.clone())
    }

    /// A 304 to a revalidation: the stored entry is fresh again.
    pub fn revalidated(&self, headers: &crate::pipeline::HeaderList) -> Option<Arc<Entry>> {
        let e = self.stale.as_ref().filter(|_| self.conf.revalidate)?;
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let now = now_secs();
        let f = freshness(e.status, get, &self.conf.valid, self.conf.ignore, now)?;
        let mut fresh = (**e).clone();
        fresh.stored = now;
        fresh.expires = now + f.ttl;
        self.zone.put(fresh.clone());
        Some(Arc::new(fresh))
    }

    /// Wraps `resp`'s body so the response is stored once it has streamed in full, if it
    /// may be cached. Strips the tag headers from what the client gets.
    pub fn store(mut self, ctx: &RequestCtx, resp: &mut Response) {
        let tags = take_tags(resp);
        if let Some(u) = &ctx.upstream {
            u.borrow_mut().cache_status = Some(self.status);
        }
        if !self.store || !self.zone.note_use(&self.vkey, self.conf.min_uses) {
            return;
        }
        // Freshness reads the upstream's own headers (X-Accel-Expires is hidden from the
        // client's copy).
        let raw = ctx
            .upstream
            .as_ref()
            .map(|u| u.borrow().headers.clone())
            .unwrap_or_default();
        let get = |n: &str| raw.get(n).and_then(|v| v.to_str().ok());
        let now = now_secs();
        let Some(f) = freshness(resp.status, get, &self.conf.valid, self.conf.ignore, now) else {
            return;
        };
        let vary: Vec<String> = if self.conf.ignore.vary {
            vec![]
        } else {
            resp.headers
                .get_all(http::header::VARY)
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect()
        };
        if !vary.is_empty() {
            // A marker at the base key names the headers that pick the variant.
            self.zone.put(Entry {
                key: self.key.clone(),
                status: 0,
                headers: vec![],
                body: Bytes::new(),
                stored: now,
                expires: now + f.ttl,
                swr: 0,
                sie: 0,
                tags: tags.clone(),
                vary: vary.clone(),
                ..Default::default()
            });
            let vk = variant_key(ctx, &self.key, &vary);
            if vk != self.vkey {
                if let Some(t) = self.lock.take() {
                    self.zone.unlock(&self.vkey, t);
                }
                self.vkey = vk;
            }
        }
        let template = Entry {
            key: self.vkey.clone(),
            status: resp.status,
            headers: resp
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), Bytes::copy_from_slice(v.as_bytes())))
                .collect(),
            body: Bytes::new(),
            stored: now,
            expires: now + f.ttl,
            swr: f.swr,
            sie: f.sie,
            tags,
            vary: vec![],
            ..Default::default()
        };
        let body = std::mem::replace(&mut resp.body, Body::Empty);
        let tee = Tee {
            inner: body,
            buf: Vec::new(),
            entry: Some(template),
            plan: Some(self),
        };
        if ctx.method == http::Method::HEAD {
            // A HEAD fetched as GET: the client gets the head, the cache the whole body.
            tokio::task::spawn_local(async move {
                use http_body_util::BodyExt;
                let mut tee = tee;
                while let Some(Ok(_)) = tee.frame().await {}
            });
            return;
        }
        resp.body = Body::Stream(Box::pin(tee));
    }
}

/// `Surrogate-Key` (space-separated) and `Cache-Tag` (comma-separated): purge tags, not
/// sent on to clients.
fn take_tags(resp: &mut Response) -> Vec<String> {
    let mut tags = vec![];
    for v in resp.headers.get_all("surrogate-key") {
        if let Ok(s) = v.to_str() {
            tags.extend(s.split_whitespace().map(str::to_string));
        }
    }
    for v in resp.headers.get_all("cache-tag") {
        if let Ok(s) = v.to_str() {
            tags.extend(
                s.split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty()),
            );
        }
    }
    resp.headers.remove("surrogate-key");
    resp.headers.remove("cache-tag");
    tags
}

/// Passes the body through and stores it when it ended cleanly.
struct Tee {
    inner: Body,
    buf: Vec<u8>,
    entry: Option<Entry>,
    plan: Option<Plan>,
}

impl Tee {
    fn finish(&mut self) {
        if let (Some(mut e), Some(plan)) = (self.entry.take(), self.plan.take()) {
            e.body = Bytes::from(std::mem::take(&mut self.buf));
            plan.zone.put(e);
        }
    }
}

impl hyper::body::Body for Tee {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        let r = match &mut this.inner {
            Body::Stream(s) => s.as_mut().poll_frame(cx),
            Body::Full(b) => {
                let d = std::mem::take(b);
                this.inner = Body::Empty;
                Poll::Ready((!d.is_empty()).then(|| Ok(Frame::data(d))))
            }
            _ => Poll::Ready(None),
        };
        match &r {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    if this.buf.len() + d.len() > MAX_ENTRY {
                        this.entry = None;
                        this.plan = None;
                    } else if this.entry.is_some() {
                        this.buf.extend_from_slice(d);
                    }
                }
                if self_end(&this.inner) {
                    this.finish();
                }
            }
            Poll::Ready(None) => this.finish(),
            Poll::Ready(Some(Err(_))) => {
                this.entry = None;
                this.plan = None;
            }
            Poll::Pending => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self_end(&self.inner)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Body::Stream(s) => s.size_hint(),
            b => SizeHint::with_exact(b.len()),
        }
    }
}

fn self_end(b: &Body) -> bool {
    match b {
        Body::Stream(s) => s.is_end_stream(),
        Body::Empty => true,
        Body::Full(d) => d.is_empty(),
        Body::File { remaining, .. } => *remaining == 0,
    }
}
