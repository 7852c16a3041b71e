//! `proxy_pass`: forwarding a request to an upstream peer and streaming the answer back.
//!
//! One try is: pick a peer ([`crate::upstream`]), take a pooled connection or connect
//! (`proxy_connect_timeout`), send the request and wait for the response head
//! (`proxy_read_timeout`). A failed try is logged as nginx logs it, reported to the
//! balancer, and retried on the next peer as `proxy_next_upstream` allows. The response
//! body streams to the client frame by frame; its connection goes back to the pool when
//! the body was read to the end. `Upgrade` responses (101) become a byte tunnel.
//!
//! The pipeline calls [`forward`] as the content handler of a location with `proxy_pass`.

mod body;
mod cache;
mod h1;
mod headers;
mod pool;
mod tunnel;

use crate::config::{
    cache_stale as stale, next_upstream as next, ProxyPass, ProxyTarget, UpstreamDef,
};
use crate::observe::Level;
use crate::pipeline::{
    self, Attempt, BalancerState, Body, HeaderList, RequestCtx, Response, UpstreamLog,
};
use crate::upstream::{Algo, Outcome, Picked, Selection, Upstream};
use body::{ReqBody, Return, Source, UpstreamBody};
use bytes::Bytes;
use http::{Method, Version};
use hyper_util::rt::TokioIo;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use pool::stats as pool_stats;

/// The timeouts and pooling of one try (the location's, or what balancer_by_lua set).
struct Limits {
    connect: Duration,
    read: Duration,
    keepalive: Option<crate::upstream::Keepalive>,
}

/// Why a try failed, as `proxy_next_upstream` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    Error,
    Timeout,
    InvalidHeader,
}

struct TryError {
    kind: Fail,
    msg: String,
    /// The request reached the upstream (matters for non-idempotent methods).
    sent: bool,
    /// The request body was consumed and cannot be sent again.
    body_gone: bool,
}

/// nginx's description of a hyper error: the errno text of an I/O cause if there is one.
fn describe(e: &hyper::Error) -> String {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::UnexpectedEof {
                return "upstream prematurely closed connection".into();
            }
            return os_error("recv()", io);
        }
        src = s.source();
    }
    if e.is_incomplete_message() {
        "upstream prematurely closed connection".into()
    } else {
        format!("upstream error ({e})")
    }
}

/// `call() failed (111: Connection refused)`.
fn os_error(call: &str, e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let text = std::io::Error::from_raw_os_error(n).to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            format!("{call} failed ({n}: {text})")
        }
        None => format!("{call} failed ({e})"),
    }
}

/// The content handler of a `proxy_pass` location.
pub async fn forward(ctx: &mut RequestCtx, pass: Arc<ProxyPass>) -> Response {
    let conf = ctx.conf.proxy.clone();
    let log = Rc::new(RefCell::new(UpstreamLog::default()));
    ctx.upstream = Some(log.clone());
    let target = match resolve_target(ctx, &pass).await {
        Ok(t) => t,
        Err(code) => return pipeline::special_response(ctx, code),
    };
    {
        let mut l = log.borrow_mut();
        l.proxy_host = target.host.clone();
        l.proxy_port = target.port;
    }
    let Target {
        def,
        host: proxy_host,
        tls: use_tls,
        h2,
        uri,
        ..
    } = target;
    let scheme = if use_tls { "https" } else { "http" };
    // TLS to the upstream: the config of the location and the name to verify (and send as
    // SNI with `proxy_ssl_server_name on`), without a port, as nginx does.
    let tls = if use_tls {
        let ssl = &conf.ssl;
        let name = ssl
            .name
            .as_ref()
            .map(|n| n.eval(ctx))
            .unwrap_or_else(|| proxy_host.clone());
        let bare = match name.strip_prefix('[') {
            Some(r) => r.split(']').next().unwrap_or(r).to_string(),
            None => name.split(':').next().unwrap_or(&name).to_string(),
        };
        match rustls::pki_types::ServerName::try_from(bare.clone()) {
            Ok(sn) => Some((ssl.client.clone(), sn)),
            Err(_) => {
                ctx.log(
                    Level::Error,
                    &format!("invalid SSL name \"{bare}\" for upstream"),
                );
                return pipeline::special_response(ctx, 502);
            }
        }
    } else {
        None
    };
    let plan = match cache::prepare(ctx, &conf, &proxy_host).await {
        cache::Prepared::Respond(r) => return r,
        cache::Prepared::Fetch(p) => p,
    };
    if let Some(p) = &plan {
        log.borrow_mut().cache_status = Some(p.status);
    }
    let uri = uri.unwrap_or_else(|| upstream_uri(ctx, pass.uri.as_deref(), &pass.location));
    let convert_head = plan.is_some() && ctx.method == Method::HEAD;
    let up = def.group.clone();

    // The request body: buffered (replayable) unless `proxy_request_buffering off`.
    let mut stream_body = None;
    let mut full_body: Option<Bytes> = None;
    if conf.pass_request_body {
        if let Some(b) = ctx.body_data.clone() {
            full_body = Some(b);
        } else if let Some(inc) = ctx
            .body
            .take()
            .filter(|b| !hyper::body::Body::is_end_stream(b))
        {
            let chunked = ctx.header(http::header::CONTENT_LENGTH).is_none();
            if conf.request_buffering || (chunked && !conf.http11) {
                let (max, t) = (ctx.conf.client_max_body_size, ctx.conf.client_body_timeout);
                match pipeline::collect_body(inc, max, t).await {
                    Ok(b) => full_body = Some(b),
                    Err((code, msg)) => {
                        ctx.log(Level::Error, &msg);
                        return pipeline::special_response(ctx, code);
                    }
                }
            } else {
                stream_body = Some(inc);
            }
        }
    }
    let body_len = full_body
        .as_ref()
        .map(|b| b.len())
        .filter(|n| *n > 0 || ctx.headers.contains_key(http::header::CONTENT_LENGTH));
    let extra = plan.as_ref().map(|p| p.conditional()).unwrap_or_default();
    // nginx's proxy_cache_convert_head: a cacheable HEAD fetches the whole response, so
    // the entry can answer GETs too.
    let method = if convert_head {
        Method::GET
    } else {
        ctx.method.clone()
    };
    // The request's headers, once for all tries: a map for HTTP/2, else the HTTP/1 head.
    let outgoing = if h2 {
        let mut map = http::HeaderMap::with_capacity(ctx.headers.len() + 4);
        headers::request_headers(ctx, &conf, &proxy_host, body_len, &extra, &mut map);
        Prepared::H2(map)
    } else if !uri_fits_request_line(&uri) {
        return invalid_uri(ctx, &uri);
    } else {
        let mut head = headers::H1Head::new(&method, &uri, conf.http11);
        headers::request_headers(ctx, &conf, &proxy_host, body_len, &extra, &mut head);
        // A streamed body of unknown length goes chunked (HTTP/1.0 bodies were buffered).
        let chunked = stream_body.is_some() && conf.http11 && !head.has_length;
        if chunked {
            head.buf
                .extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
        head.buf.extend_from_slice(b"\r\n");
        Prepared::H1 {
            bytes: Bytes::from(head.buf),
            chunked,
            close: head.close,
        }
    };
    let key = balance_key(ctx, &def);
    let mut sel = Selection::new(&up, &key);
    let mut tries = if up.single() { 1 } else { up.tries() };
    if conf.next_upstream_tries > 0 {
        tries = tries.min(conf.next_upstream_tries);
    }
    let idempotent = !matches!(ctx.method.as_str(), "POST" | "LOCK" | "PATCH");
    let started = Instant::now();
    let mut streamed = false;
    let lua_balancer = def.balancer.clone().zip(ctx.gen.engine.clone());
    let mut bstate = BalancerState::default();
    log.borrow_mut().url = Some((scheme, uri.clone()));
    loop {
        let mut limits = Limits {
            connect: conf.connect_timeout,
            read: conf.read_timeout,
            keepalive: up.keepalive,
        };
        let picked = match &lua_balancer {
            Some((chunk, engine)) => {
                bstate.peer = None;
                bstate.timeouts = None;
                if !engine.run_balancer(chunk, ctx, &mut bstate) {
                    return pipeline::special_response(ctx, 500);
                }
                tries += std::mem::take(&mut bstate.more_tries);
                if let Some((c, _, r)) = bstate.timeouts {
                    limits.connect = c.unwrap_or(limits.connect);
                    limits.read = r.unwrap_or(limits.read);
                }
                if let Some((timeout, requests)) = bstate.keepalive {
                    let max_idle = up.keepalive.map_or(32, |k| k.max_idle);
                    limits.keepalive = Some(crate::upstream::Keepalive {
                        max_idle,
                        timeout,
                        requests,
                    });
                }
                match bstate.peer {
                    Some(addr) => Some(Picked::external(addr)),
                    None => up.pick(&mut sel),
                }
            }
            None => up.pick(&mut sel),
        };
        let Some(peer) = picked else {
            {
                let mut l = log.borrow_mut();
                let mut a = Attempt::new(up.name.clone());
                a.status = Some(502);
                a.response = Some(Duration::ZERO);
                l.attempts.push(a);
            }
            ctx.log(
                Level::Error,
                "no live upstreams while connecting to upstream",
            );
            if let Some(e) = plan.as_ref().and_then(|p| p.stale_for(stale::ERROR)) {
                return cache::serve(ctx, &e, "STALE");
            }
            return pipeline::special_response(ctx, 502);
        };
        {
            let mut l = log.borrow_mut();
            l.attempts.push(Attempt::new(peer.name.clone()));
        }
        let req_body = match (&full_body, stream_body.take()) {
            (_, Some(s)) => {
                streamed = true;
                ReqBody::Stream(s)
            }
            (Some(b), None) => ReqBody::Full(Some(b.clone())),
            (None, None) => ReqBody::Empty,
        };
        let req = match &outgoing {
            Prepared::H2(map) => {
                build_request_h2(&method, &uri, &proxy_host, use_tls, map.clone(), req_body)
                    .map(Outgoing::H2)
            }
            Prepared::H1 {
                bytes,
                chunked,
                close,
            } => Some(Outgoing::H1(H1Request {
                head: bytes.clone(),
                body: req_body,
                chunked: *chunked,
                close: *close,
                head_only: method == Method::HEAD,
            })),
        };
        let req = match req {
            Some(r) => r,
            None => {
                up.release(&peer, Outcome::Ok, None);
                return invalid_uri(ctx, &uri);
            }
        };
        let t0 = Instant::now();
        let tried = match req {
            // Boxed: its handshake state is several KB, which every request's future would
            // carry (and touch) inline for the rare HTTP/2 upstream.
            Outgoing::H2(req) => {
                Box::pin(try_peer_h2(&up, &peer, req, &log, &limits, tls.as_ref())).await
            }
            Outgoing::H1(req) => {
                try_peer(&up, &peer, req, &log, &limits, tls.as_ref(), idempotent).await
            }
        };
        match tried {
            Ok(resp) => {
                let status = resp.status;
                let elapsed = t0.elapsed();
                let bit = next::of_status(status);
                let timed_out = !conf.next_upstream_timeout.is_zero()
                    && started.elapsed() >= conf.next_upstream_timeout;
                let retry = bit != 0
                    && conf.next_upstream & bit != 0
                    && tries > 1
                    && !timed_out
                    && (idempotent || conf.next_upstream & next::NON_IDEMPOTENT != 0)
                    && !streamed;
                // nginx counts every retried status but 403 and 404 against the peer.
                let failed = !matches!(status, 403 | 404);
                if retry {
                    bstate.last_failure = Some((if failed { "failed" } else { "next" }, status));
                    up.release(
                        &peer,
                        if failed { Outcome::Failed } else { Outcome::Ok },
                        Some(elapsed),
                    );
                    if let Some(a) = log.borrow_mut().attempts.last_mut() {
                        a.response = Some(elapsed);
                    }
                    tries -= 1;
                    drop(resp);
                    continue;
                }
                up.release(&peer, Outcome::Ok, Some(elapsed));
                if let Some(p) = &plan {
                    if status == 304 {
                        let fresh = p.revalidated(&log.borrow().headers);
                        if let Some(e) = fresh {
                            return cache::serve(ctx, &e, "REVALIDATED");
                        }
                    }
                    let bit = stale::of_status(status);
                    if let Some(e) = p.stale_for(bit).filter(|_| bit != 0) {
                        return cache::serve(ctx, &e, "STALE");
                    }
                }
                if conf.intercept_errors
                    && status >= 300
                    && ctx
                        .conf
                        .error_pages
                        .iter()
                        .any(|p| p.codes.contains(&status))
                {
                    return pipeline::special_response(ctx, status);
                }
                let back = resp.requests.and_then(|requests| {
                    limits.keepalive.map(|keepalive| Return {
                        key: (up.id, peer.addr, use_tls),
                        requests,
                        keepalive,
                    })
                });
                let mut out = respond(ctx, &pass, resp, back, &log, t0, convert_head);
                if let Some(p) = plan {
                    if status != 101 {
                        p.store(ctx, &mut out);
                    }
                }
                return out;
            }
            Err(e) => {
                let elapsed = t0.elapsed();
                ctx.log(Level::Error, &e.msg);
                let status = if e.kind == Fail::Timeout { 504 } else { 502 };
                bstate.last_failure = Some(("failed", status));
                if let Some(a) = log.borrow_mut().attempts.last_mut() {
                    a.status = Some(status);
                    a.response = Some(elapsed);
                }
                if up.release(&peer, Outcome::Failed, Some(elapsed)) {
                    ctx.log(
                        Level::Warn,
                        "upstream server temporarily disabled while connecting to upstream",
                    );
                }
                tries = tries.saturating_sub(1);
                let bit = match e.kind {
                    Fail::Error => next::ERROR,
                    Fail::Timeout => next::TIMEOUT,
                    Fail::InvalidHeader => next::INVALID_HEADER,
                };
                let timed_out = !conf.next_upstream_timeout.is_zero()
                    && started.elapsed() >= conf.next_upstream_timeout;
                let stop = tries == 0
                    || conf.next_upstream & bit == 0
                    || timed_out
                    || e.body_gone
                    || (e.sent && !idempotent && conf.next_upstream & next::NON_IDEMPOTENT == 0);
                if stop {
                    let bit = match e.kind {
                        Fail::Error => stale::ERROR,
                        Fail::Timeout => stale::TIMEOUT,
                        Fail::InvalidHeader => stale::INVALID_HEADER,
                    } | stale::of_status(status);
                    if let Some(e) = plan.as_ref().and_then(|p| p.stale_for(bit)) {
                        return cache::serve(ctx, &e, "STALE");
                    }
                    return pipeline::special_response(ctx, status);
                }
            }
        }
    }
}

/// Where one request goes: the group, `$proxy_host`, `$proxy_port`, TLS or not, and the
/// URI to send.
struct Target {
    def: UpstreamDef,
    host: String,
    port: u16,
    tls: bool,
    /// gRPC: HTTP/2 to the upstream.
    h2: bool,
    /// The URI to send; `None` for a configured group, built once the cache has been
    /// consulted (a hit never needs it).
    uri: Option<String>,
}

async fn resolve_target(ctx: &mut RequestCtx, pass: &ProxyPass) -> Result<Target, u16> {
    match &pass.target {
        ProxyTarget::Group(def) => Ok(Target {
            def: def.clone(),
            host: pass.host.clone(),
            port: pass.port,
            tls: pass.tls,
            h2: pass.h2,
            uri: None,
        }),
        ProxyTarget::Dynamic(c) => {
            let url = c.eval(ctx);
            let parsed = match crate::config::parse_url(&url) {
                Ok(p) => p,
                Err(e) => {
                    ctx.log(Level::Error, &format!("{e} while proxying"));
                    return Err(500);
                }
            };
            let hp = parsed.host_port;
            let dport = parsed.default_port();
            let tls = parsed.tls;
            let parsed_h2 = parsed.h2;
            let Some((host, port)) = crate::config::split_host_port_or(hp, dport) else {
                ctx.log(Level::Error, &format!("invalid port in upstream \"{hp}\""));
                return Err(500);
            };
            let uri = match parsed.uri {
                Some(u) => u.to_string(),
                None => upstream_uri(ctx, None, ""),
            };
            let http = ctx.gen.config.http.as_ref();
            if let Some(def) = http.and_then(|h| h.upstreams.get(host)) {
                return Ok(Target {
                    def: def.clone(),
                    host: host.to_string(),
                    port,
                    tls,
                    h2: parsed_h2,
                    uri: Some(uri),
                });
            }
            let ips: Vec<std::net::IpAddr> =
                match host.trim_start_matches('[').trim_end_matches(']').parse() {
                    Ok(ip) => vec![ip],
                    Err(_) => match ctx.conf.resolver.clone() {
                        None => {
                            ctx.log(
                                Level::Error,
                                &format!("no resolver defined to resolve {host}"),
                            );
                            return Err(502);
                        }
                        Some(r) => match r.resolve(host).await {
                            Ok(ips) => ips,
                            Err(e) => {
                                ctx.log(Level::Error, &e.message(host));
                                return Err(502);
                            }
                        },
                    },
                };
            let peers: Vec<crate::upstream::PeerConf> = ips
                .into_iter()
                .map(|ip| crate::upstream::PeerConf::plain(std::net::SocketAddr::new(ip, port), hp))
                .collect();
            let group = Arc::new(Upstream::new(
                hp,
                true,
                Algo::RoundRobin,
                peers,
                vec![],
                None,
            ));
            let host_var = if port == dport {
                host.to_string()
            } else {
                hp.to_string()
            };
            Ok(Target {
                def: UpstreamDef {
                    group,
                    hash_key: None,
                    balancer: None,
                },
                host: host_var,
                port,
                tls,
                h2: parsed_h2,
                uri: Some(uri),
            })
        }
    }
}

/// nginx's URI rules: no URI part — the client's URI unchanged (or the rewritten one);
/// a URI part — it replaces the matched location prefix.
fn upstream_uri(ctx: &RequestCtx, part: Option<&str>, location: &str) -> String {
    let (raw_path, raw_query) = match ctx.request_uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (ctx.request_uri.as_str(), None),
    };
    let unchanged = !ctx.internal
        && raw_query == ctx.args.as_deref()
        // (A plain path equal to the URI normalizes to it: no copy needed to tell.)
        && ((raw_path == ctx.uri && pipeline::is_plain_path(raw_path))
            || pipeline::normalize_path(raw_path, true).as_deref() == Some(ctx.uri.as_str()));
    let args = |s: &mut String| {
        if let Some(a) = &ctx.args {
            s.push('?');
            s.push_str(a);
        }
    };
    match part {
        None if unchanged => ctx.request_uri.clone(),
        None => {
            let mut s = String::with_capacity(ctx.uri.len() + 16);
            escape_uri(&mut s, &ctx.uri);
            args(&mut s);
            s
        }
        Some(p) => {
            let rest = if unchanged || ctx.uri.starts_with(location) {
                ctx.uri.get(location.len()..).unwrap_or("")
            } else {
                ctx.uri.as_str()
            };
            let room = p.len() + rest.len() + ctx.args.as_ref().map_or(0, |a| a.len() + 1);
            let mut s = String::with_capacity(room);
            s.push_str(p);
            escape_uri(&mut s, rest);
            args(&mut s);
            s
        }
    }
}

/// nginx's `NGX_ESCAPE_URI`: space, `#`, `%`, `?`, controls and non-ASCII.
fn escape_uri(out: &mut String, s: &str) {
    use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
    const SET: &AsciiSet = &CONTROLS.add(b' ').add(b'#').add(b'%').add(b'?').add(b'"');
    // Appended piece by piece: no formatting machinery and no intermediate string.
    out.extend(utf8_percent_encode(s, SET));
}

/// The hash key for `hash` (evaluated) or `ip_hash` (the client address).
fn balance_key(ctx: &RequestCtx, def: &UpstreamDef) -> Vec<u8> {
    match def.group.algo {
        Algo::IpHash => match ctx.conn.remote.ip() {
            std::net::IpAddr::V4(a) => a.octets().to_vec(),
            std::net::IpAddr::V6(a) => a.octets().to_vec(),
        },
        Algo::Hash | Algo::ConsistentHash => def
            .hash_key
            .as_ref()
            .map(|k| k.eval(ctx).into_bytes())
            .unwrap_or_default(),
        _ => vec![],
    }
}

/// A request for an HTTP/1 upstream.
struct H1Request {
    /// The request line and header lines, with the empty line.
    head: Bytes,
    body: ReqBody,
    /// A streamed body of unknown length goes chunked.
    chunked: bool,
    /// The request says `Connection: close`: the connection is not kept.
    close: bool,
    /// HEAD: the response has no body.
    head_only: bool,
}

/// What one try sends.
enum Outgoing {
    H1(H1Request),
    H2(hyper::Request<ReqBody>),
}

/// An upstream response whose head has arrived (its headers are in the log by now).
struct UpResponse {
    status: u16,
    body: Source,
    /// HTTP/1: the requests its connection has carried, for the pool.
    requests: Option<u64>,
}

/// The request's headers, built once for all its tries.
enum Prepared {
    /// The HTTP/1 head (request line, header lines, empty line) and its framing.
    H1 {
        bytes: Bytes,
        chunked: bool,
        close: bool,
    },
    H2(http::HeaderMap),
}

/// nginx's answer to a URI that cannot be sent upstream.
fn invalid_uri(ctx: &mut RequestCtx, uri: &str) -> Response {
    ctx.log(
        Level::Error,
        &format!("invalid URI \"{uri}\" to send upstream"),
    );
    pipeline::special_response(ctx, 500)
}

/// Whether a URI can go into a request line as it is.
fn uri_fits_request_line(uri: &str) -> bool {
    !uri.is_empty() && !uri.bytes().any(|b| b <= b' ' || b == 0x7f)
}

/// A gRPC request: HTTP/2 with an absolute URI (its `:authority` is `$proxy_host`), no
/// connection-specific headers, `TE: trailers` as gRPC servers expect.
fn build_request_h2(
    method: &Method,
    uri: &str,
    authority: &str,
    tls: bool,
    mut headers: http::HeaderMap,
    body: ReqBody,
) -> Option<hyper::Request<ReqBody>> {
    let scheme = if tls { "https" } else { "http" };
    let uri: http::Uri = format!("{scheme}://{authority}{uri}").parse().ok()?;
    for h in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "host",
    ] {
        headers.remove(h);
    }
    headers.insert(http::header::TE, http::HeaderValue::from_static("trailers"));
    let mut req = hyper::Request::new(body);
    *req.method_mut() = method.clone();
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_2;
    *req.headers_mut() = headers;
    Some(req)
}

/// One try: a connection (pooled or new), the request, the response head.
async fn try_peer(
    up: &Upstream,
    peer: &Picked,
    mut req: H1Request,
    log: &Rc<RefCell<UpstreamLog>>,
    limits: &Limits,
    tls: Option<&UpstreamTls>,
    idempotent: bool,
) -> Result<UpResponse, TryError> {
    let key = (up.id, peer.addr, tls.is_some());
    let body_gone = matches!(req.body, ReqBody::Stream(_));
    if limits.keepalive.is_some() {
        while let Some(mut conn) = pool::take(key) {
            match exchange(&mut conn.conn, &mut req, limits).await {
                Ok(head) => {
                    set_connect(log, Duration::ZERO);
                    return Ok(finish_head(log, head, conn));
                }
                // A kept-alive connection the upstream closed meanwhile (its
                // keepalive_timeout raced our request): the request goes again on another
                // connection, as nginx retries a cached one, and no failure is counted.
                Err(Exchange::Failed(h1::Error::Send(_))) if !body_gone => {}
                Err(Exchange::Failed(h1::Error::Closed)) if !body_gone && idempotent => {}
                Err(e) => return Err(e.into_try_error(body_gone)),
            }
        }
    }
    let t0 = Instant::now();
    let stream = connect(peer, limits).await?;
    let io = match tls {
        None => h1::Stream::Plain(stream),
        Some((cfg, name)) => h1::Stream::Tls(Box::new(
            tls_connect(stream, cfg.clone(), name, limits, t0).await?,
        )),
    };
    set_connect(log, t0.elapsed());
    let mut conn = pool::Conn {
        conn: h1::Conn::new(io),
        requests: 1,
    };
    match exchange(&mut conn.conn, &mut req, limits).await {
        Ok(head) => Ok(finish_head(log, head, conn)),
        Err(e) => Err(e.into_try_error(body_gone)),
    }
}

/// Why an exchange on a connection failed.
enum Exchange {
    Timeout,
    Failed(h1::Error),
}

impl Exchange {
    /// nginx's error-log line and `proxy_next_upstream` class for the failure.
    fn into_try_error(self, body_gone: bool) -> TryError {
        const HEADER: &str = "while reading response header from upstream";
        let (kind, msg) = match self {
            Exchange::Timeout => (
                Fail::Timeout,
                format!("upstream timed out (110: Connection timed out) {HEADER}"),
            ),
            Exchange::Failed(e) => match e {
                h1::Error::Send(e) => (
                    Fail::Error,
                    format!(
                        "{} while sending request to upstream",
                        os_error("send()", &e)
                    ),
                ),
                h1::Error::ClientBody(e) => (
                    Fail::Error,
                    format!("{e} while sending request to upstream"),
                ),
                h1::Error::Closed => (
                    Fail::Error,
                    format!("upstream prematurely closed connection {HEADER}"),
                ),
                h1::Error::Recv(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => (
                    Fail::Error,
                    format!("upstream prematurely closed connection {HEADER}"),
                ),
                h1::Error::Recv(e) => (Fail::Error, format!("{} {HEADER}", os_error("recv()", &e))),
                h1::Error::Invalid => (
                    Fail::InvalidHeader,
                    format!("upstream sent invalid header {HEADER}"),
                ),
                h1::Error::TooBig => (
                    Fail::InvalidHeader,
                    format!("upstream sent too big header {HEADER}"),
                ),
            },
        };
        TryError {
            kind,
            msg,
            sent: true,
            body_gone,
        }
    }
}

/// Sends the request and reads the response head, within `proxy_read_timeout`.
async fn exchange(
    conn: &mut h1::Conn,
    req: &mut H1Request,
    limits: &Limits,
) -> Result<h1::Head, Exchange> {
    let mut timer = conn.arm_timer(tokio::time::Instant::now() + limits.read);
    let r = {
        let mut run = std::pin::pin!(conn.exchange(
            req.head.clone(),
            &mut req.body,
            req.chunked,
            req.head_only,
            req.close,
        ));
        std::future::poll_fn(|cx| match std::future::Future::poll(run.as_mut(), cx) {
            std::task::Poll::Ready(r) => std::task::Poll::Ready(Some(r)),
            std::task::Poll::Pending => {
                std::future::Future::poll(timer.as_mut(), cx).map(|()| None)
            }
        })
        .await
    };
    conn.keep_timer(timer);
    match r {
        Some(Ok(h)) => Ok(h),
        Some(Err(e)) => Err(Exchange::Failed(e)),
        None => Err(Exchange::Timeout),
    }
}

/// A TCP connection to a peer within `proxy_connect_timeout`.
async fn connect(peer: &Picked, limits: &Limits) -> Result<tokio::net::TcpStream, TryError> {
    let stream =
        match tokio::time::timeout(limits.connect, tokio::net::TcpStream::connect(peer.addr)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(TryError {
                    kind: Fail::Error,
                    msg: format!("{} while connecting to upstream", os_error("connect()", &e)),
                    sent: false,
                    body_gone: false,
                })
            }
            Err(_) => return Err(TryError {
                kind: Fail::Timeout,
                msg: "upstream timed out (110: Connection timed out) while connecting to upstream"
                    .into(),
                sent: false,
                body_gone: false,
            }),
        };
    let _ = stream.set_nodelay(true);
    pool::opened();
    Ok(stream)
}

/// The TLS handshake with an upstream, within what is left of the connect timeout.
async fn tls_connect(
    stream: tokio::net::TcpStream,
    cfg: Arc<rustls::ClientConfig>,
    name: &rustls::pki_types::ServerName<'static>,
    limits: &Limits,
    t0: Instant,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, TryError> {
    let connect = tokio_rustls::TlsConnector::from(cfg).connect(name.clone(), stream);
    let left = limits.connect.saturating_sub(t0.elapsed());
    match tokio::time::timeout(left, connect).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(tls_error(&e)),
        Err(_) => Err(TryError {
            kind: Fail::Timeout,
            msg: "upstream timed out (110: Connection timed out) while SSL handshaking to upstream"
                .into(),
            sent: false,
            body_gone: false,
        }),
    }
}

/// Waits for the response head within `proxy_read_timeout`.
async fn await_head<F>(
    send: F,
    limits: &Limits,
    body_gone: bool,
) -> Result<hyper::Response<hyper::body::Incoming>, TryError>
where
    F: std::future::Future<Output = Result<hyper::Response<hyper::body::Incoming>, hyper::Error>>,
{
    match tokio::time::timeout(limits.read, send).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => {
            let (kind, what) = if e.is_parse() {
                (Fail::InvalidHeader, "upstream sent invalid header".to_string())
            } else if e.is_incomplete_message() {
                (Fail::Error, "upstream prematurely closed connection".to_string())
            } else {
                (Fail::Error, describe(&e))
            };
            Err(TryError {
                kind,
                msg: format!("{what} while reading response header from upstream"),
                sent: true,
                body_gone,
            })
        }
        Err(_) => Err(TryError {
            kind: Fail::Timeout,
            msg: "upstream timed out (110: Connection timed out) while reading response header from upstream".into(),
            sent: true,
            body_gone,
        }),
    }
}

/// gRPC (`grpc_pass`): HTTP/2 to the upstream, one multiplexed connection per peer and
/// worker, reused while it stays open; trailers pass through to the client.
async fn try_peer_h2(
    up: &Upstream,
    peer: &Picked,
    req: hyper::Request<ReqBody>,
    log: &Rc<RefCell<UpstreamLog>>,
    limits: &Limits,
    tls: Option<&UpstreamTls>,
) -> Result<UpResponse, TryError> {
    let body_gone = matches!(req.body(), ReqBody::Stream(_));
    let key = (up.id, peer.addr, tls.is_some());
    let mut sender = match pool::take_h2(key) {
        Some(s) => {
            set_connect(log, Duration::ZERO);
            s
        }
        None => {
            let t0 = Instant::now();
            let stream = connect(peer, limits).await?;
            let sender = match tls {
                None => handshake_h2(stream).await?,
                Some((cfg, name)) => {
                    // ALPN must say h2 for gRPC over TLS.
                    let mut c = (**cfg).clone();
                    c.alpn_protocols = vec![b"h2".to_vec()];
                    handshake_h2(tls_connect(stream, Arc::new(c), name, limits, t0).await?).await?
                }
            };
            set_connect(log, t0.elapsed());
            pool::put_h2(key, sender.clone());
            sender
        }
    };
    let resp = await_head(sender.send_request(req), limits, body_gone).await?;
    let (parts, body) = resp.into_parts();
    let status = parts.status.as_u16();
    log_head(log, status, parts.headers.into());
    Ok(UpResponse {
        status,
        body: Source::H2(body),
        requests: None,
    })
}

/// HTTP/2 over a connected stream; the connection task runs on the worker's LocalSet.
async fn handshake_h2<S>(io: S) -> Result<pool::H2Sender, TryError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    match hyper::client::conn::http2::Builder::new(LocalExec)
        .timer(hyper_util::rt::TokioTimer::new())
        .handshake::<_, ReqBody>(TokioIo::new(io))
        .await
    {
        Ok((sender, conn)) => {
            tokio::task::spawn_local(async move {
                let _ = conn.await;
            });
            Ok(sender)
        }
        Err(e) => Err(TryError {
            kind: Fail::Error,
            msg: format!("{} while connecting to upstream", describe(&e)),
            sent: false,
            body_gone: false,
        }),
    }
}

/// Runs hyper's HTTP/2 tasks on the worker's LocalSet.
#[derive(Clone, Copy)]
struct LocalExec;

impl<F: std::future::Future + 'static> hyper::rt::Executor<F> for LocalExec {
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// The client config and server name of a TLS upstream.
type UpstreamTls = (
    Arc<rustls::ClientConfig>,
    rustls::pki_types::ServerName<'static>,
);

/// nginx's lines for a failed TLS handshake with an upstream.
fn tls_error(e: &std::io::Error) -> TryError {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    let msg = match inner {
        Some(rustls::Error::InvalidCertificate(c)) => format!(
            "upstream SSL certificate verify error: ({c:?}) while SSL handshaking to upstream"
        ),
        Some(other) => {
            format!("SSL_do_handshake() failed ({other}) while SSL handshaking to upstream")
        }
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "peer closed connection in SSL handshake while SSL handshaking to upstream".into()
        }
        None => format!("SSL_do_handshake() failed ({e}) while SSL handshaking to upstream"),
    };
    TryError {
        kind: Fail::Error,
        msg,
        sent: false,
        body_gone: false,
    }
}

fn set_connect(log: &Rc<RefCell<UpstreamLog>>, d: Duration) {
    if let Some(a) = log.borrow_mut().attempts.last_mut() {
        a.connect = Some(d);
    }
}

/// Records a response head in the log: the status, the header time and (moved, not
/// copied) the headers, which from here on serve `$upstream_http_*`, revalidation and
/// the client's response.
fn log_head(log: &Rc<RefCell<UpstreamLog>>, status: u16, headers: HeaderList) {
    let mut l = log.borrow_mut();
    if let Some(a) = l.attempts.last_mut() {
        a.status = Some(status);
        a.header = Some(a.start.elapsed());
    }
    l.headers = headers;
}

/// An HTTP/1 response whose head has arrived: its body reads from the connection.
fn finish_head(log: &Rc<RefCell<UpstreamLog>>, head: h1::Head, conn: pool::Conn) -> UpResponse {
    let h1::Head {
        status,
        headers,
        body,
    } = head;
    log_head(log, status, headers);
    UpResponse {
        status,
        body: Source::H1(h1::RecvBody::new(conn.conn, body)),
        requests: Some(conn.requests),
    }
}

/// Turns the upstream response into the client's.
fn respond(
    ctx: &mut RequestCtx,
    pass: &ProxyPass,
    resp: UpResponse,
    back: Option<Return>,
    log: &Rc<RefCell<UpstreamLog>>,
    t0: Instant,
    converted_head: bool,
) -> Response {
    let conf = ctx.conf.proxy.clone();
    let conf = &*conf;
    let status = resp.status;
    let upgrade = status == 101;
    let mut out = Response::new(status);
    out.headers = headers::response_headers(&log.borrow().headers, conf, upgrade);
    out.keep_location = !headers::rewrite_redirects(ctx, pass, &mut out.headers);
    out.keep_server = conf.pass_headers.iter().any(|h| h == "server");
    if upgrade {
        if let Source::H1(mut b) = resp.body {
            if let Some(conn) = b.take_conn() {
                tunnel::start(ctx, conn, conf.read_timeout);
            }
        }
        return out;
    }
    let ub = UpstreamBody::new(
        resp.body,
        conf.read_timeout,
        back,
        log.clone(),
        ctx.log_context(),
        t0,
    );
    if (ctx.method == Method::HEAD && !converted_head) || status == 204 || status == 304 {
        // No body follows: dropping it now returns the connection to the pool.
        drop(ub);
        return out;
    }
    out.body = Body::Stream(Box::pin(ub));
    out
}
