//! One downstream connection: TLS, then HTTP/1.x by OpenClaw's own server (`h1`) or, on
//! `http2` listens, hyper (HTTP/2, and HTTP/1.1 beside it); the request entry point
//! (`respond`) both share; graceful shutdown.

use super::body::OutBody;
use super::io::SharedTcp;
use super::Current;
use crate::observe::Level;
use crate::pipeline::{self, normalize_path, ConnInfo, ReqBody, RequestCtx, Response, TlsInfo};
use http::header::{HeaderValue, CONNECTION};
use http::{Request, Version};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;

// Constants: `HeaderValue::from_static` outside a const checks every byte on each call.
const CLOSE: HeaderValue = HeaderValue::from_static("close");
const KEEP_ALIVE_VALUE: HeaderValue = HeaderValue::from_static("keep-alive");

/// `$connection`: a serial number across all workers.
static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

/// Runs a future on the worker's LocalSet (our futures are not `Send`).
#[derive(Clone, Copy)]
pub struct LocalExec;

impl<F: std::future::Future + 'static> hyper::rt::Executor<F> for LocalExec {
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// Live connection count of this worker, for graceful stop.
#[derive(Clone, Default)]
pub struct Tracker {
    pub live: Rc<Cell<usize>>,
    pub idle: Rc<tokio::sync::Notify>,
}

pub struct ConnParams {
    pub current: Current,
    pub listen: SocketAddr,
    pub http2: bool,
    pub shutdown: watch::Receiver<bool>,
    pub tracker: Tracker,
    /// The client's TCP stream, for noticing it close mid-request (set by `serve`).
    pub client: Option<Arc<TcpStream>>,
    /// The connection counted in `tracker.live` since it was accepted (`None`: counted
    /// when served).
    pub live: Option<LiveGuard>,
}

/// When the connection last moved bytes, and how many requests are being handled.
struct Activity {
    /// Milliseconds on `clock::coarse_ms`. Atomics only because hyper's upgradable
    /// connections want `Send` I/O; one thread uses them.
    last: AtomicU64,
    active: AtomicUsize,
}

impl Activity {
    fn touch(&self) {
        self.last
            .store(crate::clock::coarse_ms(), Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = crate::clock::coarse_ms();
        Duration::from_millis(now.saturating_sub(self.last.load(Ordering::Relaxed)))
    }
}

/// Marks a request finished when its handler ends (or is dropped).
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// The client stream (TCP or TLS), noting the time of each read or write that moved data.
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, data);
        if let std::task::Poll::Ready(Ok(n)) = &r {
            if *n > 0 {
                self.activity.touch();
            }
        }
        r
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let std::task::Poll::Ready(Ok(n)) = &r {
            if *n > 0 {
                self.activity.touch();
            }
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Runs a connection until it ends, a graceful stop asks it to finish, or it has been
/// idle (no request in progress, no bytes moving) for `keepalive_timeout`.
macro_rules! drive {
    ($conn:ident, $shutdown:ident, $activity:ident, $idle:ident) => {{
        tokio::pin!($conn);
        let idle = if $idle.is_zero() { Duration::from_secs(75) } else { $idle };
        let mut deadline = tokio::time::Instant::now() + idle;
        loop {
            tokio::select! {
                _ = $conn.as_mut() => break,
                _ = $shutdown.wait_for(|s| *s) => {
                    $conn.as_mut().graceful_shutdown();
                    let _ = $conn.as_mut().await;
                    break;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    let since = $activity.idle_for();
                    if $activity.active.load(Ordering::Relaxed) == 0 && since >= idle {
                        $conn.as_mut().graceful_shutdown();
                        let _ = $conn.as_mut().await;
                        break;
                    }
                    deadline = tokio::time::Instant::now() + idle.saturating_sub(since).max(Duration::from_millis(10));
                }
            }
        }
    }};
}

/// Serves one accepted connection to its end.
pub async fn serve(stream: TcpStream, remote: SocketAddr, mut p: ConnParams) {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().unwrap_or(p.listen);
    let gen = p.current.load();
    let (header_timeout, max_header, idle, server_tokens) =
        match gen.config.http.as_ref().and_then(|h| {
            let sock = h.sockets.iter().find(|s| s.addr == p.listen)?;
            Some(h.servers[sock.default_server].clone())
        }) {
            Some(s) => {
                let (n, size) = s.large_header_buffers;
                (
                    s.client_header_timeout,
                    n * size + 1024,
                    s.conf.keepalive_timeout,
                    s.conf.server_tokens,
                )
            }
            None => (
                Duration::from_secs(60),
                33 * 1024,
                Duration::from_secs(75),
                true,
            ),
        };
    let acceptor = gen
        .config
        .http
        .as_ref()
        .and_then(|h| h.sockets.iter().position(|s| s.addr == p.listen))
        .and_then(|i| gen.tls.get(i).cloned().flatten());
    drop(gen);
    let limits = Limits {
        header_timeout,
        max_header,
        idle,
        server_tokens,
    };
    let stream = Arc::new(stream);
    if !p.http2 {
        p.client = Some(stream.clone());
    }
    let Some(cfg) = acceptor else {
        return serve_io(SharedTcp(stream), remote, local, p, limits, None, false).await;
    };
    // A TLS connection starts with a handshake record (22); anything else is plain HTTP,
    // which nginx answers with a 400 page.
    let mut first = [0u8; 1];
    match tokio::time::timeout(header_timeout, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return,
    }
    if first[0] != 22 {
        return serve_io(SharedTcp(stream), remote, local, p, limits, None, true).await;
    }
    let at = super::tls::Peers {
        listen: p.listen,
        local,
        remote,
    };
    // Boxed, as the TLS connection's serving below: a plain connection's task is not
    // sized for it.
    let handshake = Box::pin(super::tls::accept(cfg, SharedTcp(stream), &p.current, at));
    let tls = match tokio::time::timeout(header_timeout, handshake).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let msg = format!(
                "SSL_do_handshake() failed ({e}) while SSL handshaking, client: {}, server: {}",
                remote.ip(),
                p.listen
            );
            crate::observe::log(Level::Info, &msg, None);
            return;
        }
        Err(_) => {
            let msg = format!(
                "client timed out (110: Connection timed out) while SSL handshaking, client: {}, server: {}",
                remote.ip(),
                p.listen
            );
            crate::observe::log(Level::Info, &msg, None);
            return;
        }
    };
    let mut tls = tls;
    if tls.get_ref().1.alpn_protocol() == Some(crate::tls::acme::ACME_TLS_ALPN) {
        // A TLS-ALPN-01 validation ends with the handshake (RFC 8737).
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
        return;
    }
    let sc = tls.get_ref().1;
    let sni = sc.server_name().map(str::to_string);
    let (client_verify, client_dn, client_fingerprint) = match sc.peer_certificates() {
        None | Some([]) => ("NONE".to_string(), None, None),
        Some(chain) => {
            let (dn, fp) = crate::tls::client_cert_facts(&chain[0]);
            let ca = client_ca(&p, sni.as_deref());
            let verdict = match ca.map(|ca| ca.verify(chain)) {
                Some(Ok(())) => "SUCCESS".to_string(),
                Some(Err(e)) => format!("FAILED:{e}"),
                None => "FAILED:no CA".to_string(),
            };
            (verdict, Some(dn), Some(fp))
        }
    };
    let info = TlsInfo {
        client_verify,
        client_dn,
        client_fingerprint,
        protocol: sc
            .protocol_version()
            .map(crate::tls::protocol_name)
            .unwrap_or(""),
        cipher: sc
            .negotiated_cipher_suite()
            .map(crate::tls::cipher_name)
            .unwrap_or_default(),
        server_name: sc.server_name().map(str::to_string),
        reused: matches!(sc.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
    };
    // Boxed: the TLS stream's state would otherwise size every connection's task.
    Box::pin(serve_io(tls, remote, local, p, limits, Some(info), false)).await
}

/// The client CA of the server SNI picks on this socket (or of its default server).
fn client_ca(p: &ConnParams, sni: Option<&str>) -> Option<Arc<crate::tls::ClientCa>> {
    let gen = p.current.load();
    let http = gen.config.http.as_ref()?;
    let sock = http.sockets.iter().position(|s| s.addr == p.listen)?;
    let (server, _) = crate::router::select_server(http, sock, sni);
    server
        .tls
        .as_ref()
        .and_then(|t| t.settings.client_ca.clone())
        .or_else(|| {
            let d = &http.servers[http.sockets[sock].default_server];
            d.tls.as_ref().and_then(|t| t.settings.client_ca.clone())
        })
}

/// The connection's header and idle limits, from its socket's default server.
pub(super) struct Limits {
    pub(super) header_timeout: Duration,
    pub(super) max_header: usize,
    pub(super) idle: Duration,
    /// The default server's `server_tokens`, for answers made before a server is chosen.
    pub(super) server_tokens: bool,
}

/// Serves HTTP on an accepted (and, for TLS, handshaken) stream.
pub(super) async fn serve_io<S>(
    stream: S,
    remote: SocketAddr,
    local: SocketAddr,
    mut p: ConnParams,
    limits: Limits,
    tls: Option<TlsInfo>,
    plain_on_tls: bool,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = Rc::new(ConnInfo {
        id: CONNECTIONS.fetch_add(1, Ordering::Relaxed),
        remote,
        local,
        listen: p.listen,
        requests: Cell::new(0),
        http2: p.http2,
        tls,
        plain_on_tls,
        client: p.client.clone(),
        client_closed: Cell::new(false),
        abort_mode: Cell::new(pipeline::AbortMode::Cancel),
        takeover: std::cell::OnceCell::new(),
        watch_timer: RefCell::new(None),
    });
    // Counts the connection down even if its task unwinds, so a graceful stop never waits
    // for a connection that is gone.
    let _live = p
        .live
        .take()
        .unwrap_or_else(|| LiveGuard::count(&p.tracker));
    if !p.http2 {
        return super::h1::serve(stream, conn, p.current, limits).await;
    }
    // Boxed: hyper's connection state would otherwise size every connection's task.
    Box::pin(serve_hyper(stream, conn, p, limits)).await
}

/// A connection served by hyper (a listener with `http2`: HTTP/2, or HTTP/1 by ALPN or
/// preface).
async fn serve_hyper<S>(stream: S, conn: Rc<ConnInfo>, p: ConnParams, limits: Limits)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Limits {
        header_timeout,
        max_header,
        idle,
        ..
    } = limits;
    // hyper's header timer also runs while a kept-alive connection waits for its next
    // request; the idle watch below enforces keepalive_timeout, so let it not cut earlier.
    let header_timeout = header_timeout.max(idle);
    let current = p.current.clone();
    let activity = Arc::new(Activity {
        last: AtomicU64::new(crate::clock::coarse_ms()),
        active: AtomicUsize::new(0),
    });
    let act = activity.clone();
    let service = hyper::service::service_fn(move |req| {
        let current = current.clone();
        let conn = conn.clone();
        let act = act.clone();
        async move {
            act.active.fetch_add(1, Ordering::Relaxed);
            let _busy = Busy(act);
            handle(current, conn, req).await
        }
    });
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let mut shutdown = p.shutdown;
    if p.http2 {
        let mut builder = hyper_util::server::conn::auto::Builder::new(LocalExec);
        // nginx writes header names as `Content-Type`; hyper keeps only lowercase names, so
        // title case is the closest (a header set as `x-foo` goes out as `X-Foo`).
        builder
            .http1()
            .title_case_headers(true)
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_buf_size(max_header.max(8192));
        builder.http2().timer(TokioTimer::new());
        let conn = builder.serve_connection_with_upgrades(io, service);
        drive!(conn, shutdown, activity, idle);
    } else {
        let conn = hyper::server::conn::http1::Builder::new()
            .title_case_headers(true)
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_header_size(max_header)
            .keep_alive(true)
            // A client closing its side mid-request does not cancel the request here:
            // `handle` watches for it and decides by what runs (see `AbortMode`).
            .half_close(true)
            .serve_connection(io, service)
            .with_upgrades();
        drive!(conn, shutdown, activity, idle);
    }
}

/// A connection counted in its worker's `Tracker::live` while this lives.
pub struct LiveGuard(Tracker);

impl LiveGuard {
    pub fn count(tracker: &Tracker) -> LiveGuard {
        tracker.live.set(tracker.live.get() + 1);
        LiveGuard(tracker.clone())
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let n = self.0.live.get().saturating_sub(1);
        self.0.live.set(n);
        if n == 0 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Host as nginx validates it (`ngx_http_validate_host`): lowercased, port and trailing
/// dot removed; `None` if invalid (`..`, `/`, `\\`, NUL).
fn validate_host(h: &str) -> Option<String> {
    let h = h.trim();
    let b = h.as_bytes();
    let mut end = b.len();
    let mut in_brackets = false;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'.' if i > 0 && b[i - 1] == b'.' => return None,
            b':' if !in_brackets => {
                end = i;
                break;
            }
            b'[' if i == 0 => in_brackets = true,
            b']' => in_brackets = false,
            b'/' | b'\\' | 0 => return None,
            _ => {}
        }
    }
    let host = &h[..end];
    let host = host.strip_suffix('.').unwrap_or(host);
    Some(host.to_ascii_lowercase())
}

/// The entry point of a request served by hyper (HTTP/2 listens).
async fn handle(
    current: Current,
    conn: Rc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<hyper::Response<OutBody>, std::io::Error> {
    let mut req = req;
    let on_upgrade = req
        .headers()
        .contains_key(http::header::UPGRADE)
        .then(|| pipeline::OnUpgrade::Hyper(hyper::upgrade::on(&mut req)));
    let (parts, body) = req.into_parts();
    let parts = ReqHead {
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts.headers.into(),
    };
    let reply = respond(&current, &conn, parts, ReqBody::Hyper(body), on_upgrade)
        .await
        .ok_or_else(closed)?;
    let mut out = hyper::Response::new(reply.body);
    *out.status_mut() =
        http::StatusCode::from_u16(reply.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    *out.headers_mut() = reply.headers.to_map();
    // nginx's reason phrases where they differ from the canonical ones ("Moved Temporarily").
    let nginx_reason = pipeline::reason(reply.status);
    if !nginx_reason.is_empty() && out.status().canonical_reason() != Some(nginx_reason) {
        out.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(
                nginx_reason.as_bytes(),
            ));
    }
    Ok(out)
}

/// What goes to the client: the status, the headers, and the body (which logs the request
/// when it is dropped, sent or not).
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: pipeline::HeaderList,
    pub(super) body: OutBody,
    /// The location's `send_timeout`: the longest a write to the client may wait.
    pub(super) send_timeout: Duration,
}

/// A request head as either HTTP parser gave it.
pub(super) struct ReqHead {
    pub(super) method: http::Method,
    pub(super) uri: http::Uri,
    pub(super) version: Version,
    pub(super) headers: pipeline::HeaderList,
}

/// The request entry point: picks the generation and server, runs the pipeline, and makes
/// its answer ready to send. `None`: close the connection without answering.
pub(super) async fn respond(
    current: &Current,
    conn: &Rc<ConnInfo>,
    parts: ReqHead,
    body: ReqBody,
    on_upgrade: Option<pipeline::OnUpgrade>,
) -> Option<Reply> {
    let gen = super::latest(current);
    conn.requests.set(conn.requests.get() + 1);
    let http = gen.config.http.as_ref()?;
    // A listener dropped by a reload: finish this connection.
    let sock = http.sockets.iter().position(|s| s.addr == conn.listen)?;
    let mut bad: Option<&str> = None;
    // What the HTTP parsers (ours for HTTP/1, hyper's for HTTP/2) let through but nginx
    // refuses.
    if !parts
        .method
        .as_str()
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b == b'_' || b == b'-')
    {
        bad = Some("client sent invalid method while reading client request line");
    } else if parts.headers.get_all(http::header::HOST).count() > 1 {
        bad = Some("client sent duplicate host header while reading client request headers");
    } else if parts.headers.contains_key(http::header::CONTENT_LENGTH)
        && parts.headers.contains_key(http::header::TRANSFER_ENCODING)
    {
        bad = Some("client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time while reading client request headers");
    }
    let raw_host = parts.uri.authority().map(|a| a.as_str()).or_else(|| {
        parts
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
    });
    let host = match raw_host.map(validate_host) {
        Some(Some(h)) => Some(h),
        Some(None) => {
            bad = bad.or(Some(
                "client sent invalid host header while reading client request headers",
            ));
            None
        }
        None => {
            if parts.version == Version::HTTP_11 {
                bad = bad.or(Some("client sent HTTP/1.1 request without \"Host\" header while reading client request headers"));
            }
            None
        }
    };
    let (server, server_match) = crate::router::select_server(http, sock, host.as_deref());
    let request_uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let path = parts.uri.path();
    let uri = match normalize_path(path, server.merge_slashes) {
        Some(u) => u,
        None => {
            bad = bad.or(Some(
                "client sent invalid request while reading client request line",
            ));
            path.to_string()
        }
    };
    let args = parts.uri.query().map(str::to_string);
    let host_var = host.unwrap_or_else(|| server.first_name.clone());
    let acme = !http.acme.is_empty() || !http.acme_on_demand.is_empty();
    // SAFETY: the server belongs to `gen`, which the request holds from here (moved into
    // it: a clone would be an atomic update).
    let server = unsafe { pipeline::Part::of(server) };
    // Written into its allocation: with `Box::new` (even with `RequestCtx::new` inlined)
    // it was built on the stack and its 800 bytes copied over, once a request.
    let ctx = Box::write(
        Box::new_uninit(),
        RequestCtx::new(
            gen,
            conn.clone(),
            parts.method,
            parts.version,
            parts.headers,
            request_uri,
            uri,
            args,
            host_var,
            server,
        ),
    );
    // If the request is given up (the client left: `watch_client` cancels it, or hyper
    // drops this future on an HTTP/2 reset), the guard logs it.
    let mut guard = AbortGuard(Some(ctx));
    let ctx = guard.0.as_mut()?;
    if let Some(m) = server_match {
        ctx.captures = Some(m);
    }
    ctx.on_upgrade = on_upgrade;
    // nginx's buffer rules: the request line and each header line must fit one buffer.
    let line_max = ctx.server.large_header_buffers.1;
    let mut too_large = None;
    // "METHOD URI HTTP/x.y\r\n", measured without building it.
    if ctx.method.as_str().len() + ctx.request_uri.len() + 12 > line_max {
        too_large = Some(414);
    } else if ctx
        .headers
        .iter()
        .any(|(k, v)| k.as_str().len() + v.len() + 4 > line_max)
    {
        too_large = Some(494);
    }
    let mtls = mtls_refusal(ctx);
    let resp = if let Some(r) = acme_http01(ctx, acme) {
        r
    } else if let Some((code, msg)) = mtls {
        ctx.log(Level::Info, &msg);
        let mut r = pipeline::special_status(ctx, code);
        r.headers.insert(CONNECTION, CLOSE);
        r
    } else if ctx.conn.plain_on_tls {
        ctx.log(
            Level::Info,
            "client sent plain HTTP request to HTTPS port while reading client request headers",
        );
        let mut r = pipeline::special_status(ctx, 497);
        r.headers.insert(CONNECTION, CLOSE);
        r
    } else if let Some(code) = too_large {
        ctx.log(
            Level::Info,
            if code == 414 {
                "client sent too long URI while reading client request line"
            } else {
                "client sent too long header line while reading client request headers"
            },
        );
        let mut r = pipeline::special_status(ctx, code);
        r.headers.insert(CONNECTION, CLOSE);
        r
    } else {
        match bad {
            Some(msg) => {
                ctx.log(Level::Info, msg);
                let mut r = pipeline::special_400(ctx);
                r.headers.insert(CONNECTION, CLOSE);
                r
            }
            None => {
                // Pinned where it is made: the pipeline's future is large. Moving it into
                // the watcher would copy it on every request, and `tokio::pin!`'s rebinding
                // gave it a second slot in this future (twice the size per connection).
                let process = std::pin::pin!(pipeline::process(ctx, body));
                // `None`: the client left; the guard logs the request with 499.
                watch_client(conn, process).await?
            }
        }
    };
    let ctx = guard.0.take()?;
    finish(ctx, resp)
}

/// See `watch_client`: a client closing is noticed this much later at most.
const WATCH_AFTER: Duration = Duration::from_millis(50);

/// Runs a request's processing while watching its client (HTTP/1, which reads nothing
/// while a request runs): `None` when the client closed and what runs then is to be cancelled
/// (`AbortMode::Cancel`); Lua handlers run on (`Ignore`) or get told (`Notify`, through
/// `ConnInfo::client_closed`). Only a request still waiting after `WATCH_AFTER` is
/// watched: the first look costs a syscall (tokio's read readiness is still set after
/// the server's read), which most requests, proxied ones included, finish without.
async fn watch_client<F: std::future::Future<Output = Response>>(
    conn: &ConnInfo,
    mut fut: std::pin::Pin<&mut F>,
) -> Option<Response> {
    use pipeline::AbortMode;
    use std::task::Poll;
    if conn.client.is_none() {
        return Some(fut.await);
    }
    let mut watching = true;
    let mut delay: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    let r = std::future::poll_fn(|cx| loop {
        if let Poll::Ready(r) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        let cancel = conn.abort_mode.get() == AbortMode::Cancel;
        if conn.client_closed.get() {
            return if cancel {
                Poll::Ready(None)
            } else {
                Poll::Pending
            };
        }
        if !watching {
            return Poll::Pending;
        }
        let wait = delay.get_or_insert_with(|| {
            let at = tokio::time::Instant::now() + WATCH_AFTER;
            crate::clock::rearm(conn.watch_timer.take(), at)
        });
        if std::future::Future::poll(wait.as_mut(), cx).is_pending() {
            return Poll::Pending;
        }
        match conn.poll_client_closed(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(false) => {
                watching = false;
                return Poll::Pending;
            }
            Poll::Ready(true) => {
                conn.client_closed.set(true);
                if cancel {
                    return Poll::Ready(None);
                }
                // Poll the request again so a Lua handler sees the close.
            }
        }
    })
    .await;
    // Kept for the connection's next request (see `ConnInfo::watch_timer`).
    if let Some(t) = delay {
        conn.watch_timer.replace(Some(t));
    }
    r
}

/// Holds a request's context while its response is being made. Dropped with the context
/// still inside means the request was given up because the client closed the connection:
/// it is logged as nginx does, status 499, after its log phase.
struct AbortGuard(Option<Box<RequestCtx>>);

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if let Some(mut ctx) = self.0.take() {
            ctx.log(
                Level::Info,
                "client prematurely closed connection while processing the request",
            );
            ctx.status = 499;
            super::body::log_phase(ctx);
        }
    }
}

/// HTTP-01 challenges, answered on plain-HTTP listeners before anything else when ACME is
/// configured: the key authorization of an open order's token, else 404.
/// `acme`: the configuration obtains certificates over ACME.
fn acme_http01(ctx: &mut RequestCtx, acme: bool) -> Option<Response> {
    if !acme || ctx.conn.tls.is_some() || ctx.conn.plain_on_tls {
        return None;
    }
    let token = ctx.uri.strip_prefix(crate::tls::acme::HTTP01_PREFIX)?;
    let Some(answer) = crate::tls::acme::http01(token) else {
        return Some(pipeline::special_status(ctx, 404));
    };
    let mut r = Response::new(200);
    r.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    r.body = pipeline::Body::Full(answer.into());
    pipeline::header_filter(ctx, &mut r);
    Some(r)
}

/// nginx's `ssl_verify_client` answers: 496 (sent as 400) without a required
/// certificate, 495 (400) for one that does not verify.
fn mtls_refusal(ctx: &RequestCtx) -> Option<(u16, String)> {
    use crate::config::VerifyClient;
    let mode = ctx.server.tls.as_ref()?.verify_client;
    let t = ctx.conn.tls.as_ref()?;
    match (mode, t.client_verify.as_str()) {
        (VerifyClient::On, "NONE") => Some((
            496,
            "client sent no required SSL certificate while reading client request headers".into(),
        )),
        (VerifyClient::On | VerifyClient::Optional, v) if v.starts_with("FAILED") => Some((
            495,
            format!(
                "client SSL certificate verify error: ({}) while reading client request headers",
                v.trim_start_matches("FAILED:")
            ),
        )),
        _ => None,
    }
}

fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "connection closed")
}

/// Settles the connection's fate (`Connection`), drops a HEAD response's body, and wraps
/// the body for sending.
fn finish(mut ctx: Box<RequestCtx>, mut resp: Response) -> Option<Reply> {
    if resp.drop_connection {
        // `return 444`: log it, then close without a response.
        ctx.status = 444;
        super::body::log_phase(ctx);
        return None;
    }
    let conf = &ctx.conf;
    let send_timeout = conf.send_timeout;
    if (ctx.version == Version::HTTP_11 || ctx.version == Version::HTTP_10) && resp.status != 101 {
        // nginx announces the connection's fate on every HTTP/1.x response.
        let asked = ctx.header(CONNECTION);
        let has = |tok: &str| {
            asked.is_some_and(|c| c.split(',').any(|t| t.trim().eq_ignore_ascii_case(tok)))
        };
        let wants_keepalive = match ctx.version {
            Version::HTTP_10 => has("keep-alive"),
            _ => !has("close"),
        };
        let close = !wants_keepalive
            || resp.headers.get(CONNECTION).is_some_and(|v| v == "close")
            || conf.keepalive_timeout.is_zero()
            || ctx.conn.requests.get() >= conf.keepalive_requests;
        if close {
            resp.headers.insert(CONNECTION, CLOSE);
        } else {
            resp.headers.insert(CONNECTION, KEEP_ALIVE_VALUE);
            if let Some(t) = conf.keepalive_header {
                if let Ok(v) = HeaderValue::from_str(&format!("timeout={t}")) {
                    const KEEP_ALIVE: http::HeaderName =
                        http::HeaderName::from_static("keep-alive");
                    resp.headers.insert(KEEP_ALIVE, v);
                }
            }
        }
    }
    let body = if ctx.method == http::Method::HEAD {
        pipeline::Body::Empty
    } else {
        std::mem::replace(&mut resp.body, pipeline::Body::Empty)
    };
    let out_body = if resp.status == 101 && matches!(body, pipeline::Body::Stream(_)) {
        // A 101's body is never sent, but here it is a Lua handler still running
        // (after ngx.send_headers, to take the connection with ngx.req.socket(true)):
        // it runs on as a task; what it outputs has nowhere to go.
        let mut running = OutBody::new(body, ctx);
        let started = pipeline::spawn_background(async move {
            use http_body_util::BodyExt;
            while let Some(Ok(_)) = running.frame().await {}
        });
        if !started {
            return None;
        }
        OutBody::empty()
    } else {
        OutBody::new(body, ctx)
    };
    Some(Reply {
        status: resp.status,
        headers: resp.headers,
        body: out_body,
        send_timeout,
    })
}
