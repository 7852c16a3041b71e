//! The per-request context and variable evaluation over it.

use super::{Generation, Part};
use crate::config::{Computed, LocConf, Location, Server};
use crate::router::RegexMatch;
use crate::vars::{Builtin, Var, VarSource};
use ahash::AHashMap as HashMap;
use http::{Method, Version};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::SystemTime;

/// One downstream connection, shared by its requests.
#[derive(Debug)]
pub struct ConnInfo {
    /// nginx's `$connection` serial number.
    pub id: u64,
    pub remote: SocketAddr,
    pub local: SocketAddr,
    /// The configured listen address the connection came through.
    pub listen: SocketAddr,
    pub requests: Cell<u64>,
    pub http2: bool,
    /// The TLS session, on a TLS listener.
    pub tls: Option<TlsInfo>,
    /// A plain-HTTP request arrived on a TLS port: every request gets nginx's 400.
    pub plain_on_tls: bool,
    /// The client's TCP stream (HTTP/1 over TCP), peeked at to notice it closing while a
    /// request is being processed.
    pub client: Option<Arc<tokio::net::TcpStream>>,
    /// The client closed the connection before its response was complete.
    pub client_closed: Cell<bool>,
    /// What a client closing means for the code running now.
    pub abort_mode: Cell<AbortMode>,
    /// The connection itself, for `ngx.req.socket(true)` before or after a response head
    /// (HTTP/1 connections of OpenClaw's own server).
    pub takeover: std::cell::OnceCell<Rc<dyn super::Takeover>>,
    /// The timer that starts a request's client watch, kept for the connection's next
    /// request (`clock::rearm`).
    pub watch_timer: RefCell<Option<std::pin::Pin<Box<tokio::time::Sleep>>>>,
}

/// How a request reacts when its client closes the connection early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AbortMode {
    /// Stop processing (status 499), as nginx's proxy and most modules do.
    #[default]
    Cancel,
    /// A Lua handler with `lua_check_client_abort off`: it runs on, unaware.
    Ignore,
    /// A Lua handler with `lua_check_client_abort on`: `ngx.on_abort`'s callback runs, or
    /// the request ends with 499.
    Notify,
}

impl ConnInfo {
    /// Ready(true) once the client has closed its side (or reset the connection);
    /// Ready(false) when it sent more data, which hides a close behind it (nginx's peek has
    /// the same blind spot); Pending while the connection is quiet.
    pub fn poll_client_closed(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<bool> {
        use std::task::Poll;
        let Some(s) = &self.client else {
            return Poll::Pending;
        };
        let mut b = [0u8; 1];
        let mut buf = tokio::io::ReadBuf::new(&mut b);
        match s.poll_peek(cx, &mut buf) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => Poll::Ready(true),
            Poll::Ready(Ok(_)) => Poll::Ready(false),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What the TLS handshake settled (`$ssl_*` variables).
#[derive(Debug, Clone)]
pub struct TlsInfo {
    pub protocol: &'static str,
    pub cipher: String,
    pub server_name: Option<String>,
    pub reused: bool,
    /// `$ssl_client_verify`: `NONE`, `SUCCESS` or `FAILED:reason`.
    pub client_verify: String,
    /// `$ssl_client_s_dn`, `$ssl_client_fingerprint`.
    pub client_dn: Option<String>,
    pub client_fingerprint: Option<String>,
}

/// Everything about one request, from arrival to the log line.
pub struct RequestCtx {
    /// The generation the request runs on, from its start to its log line: it owns the
    /// request's `Part`s, so it is never replaced.
    pub gen: Arc<Generation>,
    pub conn: Rc<ConnInfo>,
    pub method: Method,
    pub version: Version,
    pub headers: super::HeaderList,
    /// The request target as received (`$request_uri`).
    pub request_uri: String,
    /// The decoded, normalised path (`$uri`); changed by rewrites and redirects.
    pub uri: String,
    /// The query string without `?` (`$args`).
    pub args: Option<String>,
    pub host: String,
    pub server: Part<Server>,
    pub location: Option<Part<Location>>,
    /// The settings in force: the location's, or an `if` block's.
    pub conf: Part<LocConf>,
    pub user_vars: HashMap<Arc<str>, String>,
    /// Variables Lua set to nil (`ngx.var.x = nil`): they read as nil, where a declared
    /// variable this request never set reads as "" (as in nginx).
    pub nil_vars: Vec<Arc<str>>,
    pub computed: RefCell<HashMap<Arc<str>, Option<String>>>,
    pub captures: Option<RegexMatch>,
    /// The file a static response was served from (`$request_filename`).
    pub filename: Option<String>,
    pub internal: bool,
    /// A cache background update (`proxy_cache_background_update`): the variant key and
    /// the lock token the subrequest holds; its proxy fetches and stores without a lookup.
    pub cache_update: Option<(String, u64)>,
    pub redirects: u32,
    pub status: u16,
    pub resp_headers: super::HeaderList,
    pub body_bytes_sent: Cell<u64>,
    /// The response head's size as written (HTTP/1), for `$bytes_sent`; 0 when unknown.
    pub head_bytes_sent: Cell<u64>,
    pub request_length: u64,
    pub start_time: SystemTime,
    request_id: RefCell<Option<String>>,
    /// Per-request data of the script engine (Lua keeps `ngx.ctx` here across phases).
    pub script_slot: Option<Box<dyn std::any::Any>>,
    /// The request body not read yet.
    pub body: Option<super::ReqBody>,
    /// The request body once read in full (`ngx.req.read_body`).
    pub body_data: Option<bytes::Bytes>,
    /// `$limit_req_status`.
    pub limit_req_status: Option<&'static str>,
    /// `$limit_conn_status`.
    pub limit_conn_status: Option<&'static str>,
    /// `limit_conn` slots held until the request ends.
    pub conn_slots: Vec<crate::limit::ConnSlot>,
    /// A subrequest (`ngx.location.capture`): nesting depth, 0 for a main request.
    pub subrequest_depth: u32,
    /// What proxying did, once it started.
    pub upstream: Option<Rc<RefCell<super::UpstreamLog>>>,
    /// The client connection's upgrade, for a request asking for one (WebSocket).
    pub on_upgrade: Option<super::OnUpgrade>,
    /// Response headers set (by `ngx.header`) before the content handler ran.
    pub early_headers: Option<super::HeaderList>,
    /// The API key's record, once `api_key_check_*` accepted it.
    pub api_key: Option<Box<crate::keys::Record>>,
}

/// What an error.log line about a request names, for code that outlives the borrow of the
/// request (a streamed upstream body, a tunnel): gathered cheaply (one string copy), and
/// rendered only when a line is written.
pub struct LogContext {
    connection: u64,
    client: std::net::IpAddr,
    server: Arc<Server>,
    method: Method,
    request_uri: String,
    protocol: &'static str,
    upstream: Option<Rc<RefCell<super::UpstreamLog>>>,
    host: Option<http::HeaderValue>,
}

impl LogContext {
    pub fn log(&self, level: crate::observe::Level, msg: &str) {
        let info = crate::observe::OwnedReqInfo {
            connection: self.connection,
            client: self.client.to_string(),
            server: self.server.first_name.clone(),
            request: format!("{} {} {}", self.method, self.request_uri, self.protocol),
            upstream: self.upstream.as_ref().and_then(|u| u.borrow().url()),
            host: self
                .host
                .as_ref()
                .and_then(|h| h.to_str().ok())
                .map(str::to_string),
        };
        info.log(level, msg);
    }
}

thread_local! {
    /// This thread's hash keys for the request's variable maps: `RandomState::new` takes
    /// an atomic update of a process-wide counter, two per request otherwise.
    static VAR_HASHER: ahash::RandomState = ahash::RandomState::new();
}

/// An empty map for a request's variables, with this thread's hash keys.
fn var_map<V>() -> HashMap<Arc<str>, V> {
    VAR_HASHER.with(|h| HashMap::with_hasher(h.clone()))
}

impl RequestCtx {
    #[allow(clippy::too_many_arguments)]
    // Inlined so that the request's box is written in place (`server::conn::respond`:
    // neither this nor `Box::write` alone avoids the copy).
    #[inline(always)]
    pub fn new(
        gen: Arc<Generation>,
        conn: Rc<ConnInfo>,
        method: Method,
        version: Version,
        headers: super::HeaderList,
        request_uri: String,
        uri: String,
        args: Option<String>,
        host: String,
        server: Part<Server>,
    ) -> RequestCtx {
        // SAFETY: a server's settings are owned by the server.
        let conf = unsafe { Part::of(&server.conf) };
        let request_length = request_uri.len() as u64
            + headers
                .iter()
                .map(|(k, v)| (k.as_str().len() + v.len() + 4) as u64)
                .sum::<u64>()
            + 16;
        RequestCtx {
            gen,
            conn,
            method,
            version,
            headers,
            request_uri,
            uri,
            args,
            host,
            server,
            location: None,
            conf,
            user_vars: var_map(),
            nil_vars: Vec::new(),
            computed: RefCell::new(var_map()),
            captures: None,
            filename: None,
            internal: false,
            cache_update: None,
            redirects: 0,
            status: 0,
            resp_headers: super::HeaderList::new(),
            body_bytes_sent: Cell::new(0),
            head_bytes_sent: Cell::new(0),
            request_length,
            start_time: crate::clock::system(),
            request_id: RefCell::new(None),
            script_slot: None,
            body: None,
            body_data: None,
            limit_req_status: None,
            limit_conn_status: None,
            conn_slots: Vec::new(),
            subrequest_depth: 0,
            upstream: None,
            on_upgrade: None,
            early_headers: None,
            api_key: None,
        }
    }

    /// A request header as text; pass `http::header::*` constants on hot paths (a `&str`
    /// name is parsed on every call).
    pub fn header<K: super::ListKey>(&self, name: K) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `$scheme`.
    pub fn scheme(&self) -> &'static str {
        if self.conn.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    pub fn protocol(&self) -> &'static str {
        match self.version {
            Version::HTTP_09 => "HTTP/0.9",
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_2 => "HTTP/2.0",
            Version::HTTP_3 => "HTTP/3.0",
            _ => "HTTP/1.1",
        }
    }

    /// `$request`: the request line.
    pub fn request_line(&self) -> String {
        format!("{} {} {}", self.method, self.request_uri, self.protocol())
    }

    /// Error-log context for this request.
    /// Whether the configuration declares the variable `$name` (`set`, and the like).
    pub fn declares(&self, name: &str) -> bool {
        self.gen
            .config
            .http
            .as_ref()
            .is_some_and(|h| h.declared_vars.contains(name))
    }

    pub fn log(&self, level: crate::observe::Level, msg: &str) {
        if !crate::observe::log_enabled(level) {
            return;
        }
        let client = self.conn.remote.ip().to_string();
        let request = self.request_line();
        let up = self.upstream.as_ref().and_then(|u| u.borrow().url());
        let info = crate::observe::ReqInfo {
            connection: self.conn.id,
            client: &client,
            server: &self.server.first_name,
            request: &request,
            upstream: up.as_deref(),
            host: self.header(http::header::HOST),
        };
        crate::observe::log(level, msg, Some(&info));
    }

    /// The error-log context as owned data, for code that logs after the handler returned
    /// (a streamed upstream body).
    pub fn log_context(&self) -> LogContext {
        LogContext {
            connection: self.conn.id,
            client: self.conn.remote.ip(),
            server: self.server.arc(),
            method: self.method.clone(),
            request_uri: self.request_uri.clone(),
            protocol: self.protocol(),
            upstream: self.upstream.clone(),
            host: self.headers.get(http::header::HOST).cloned(),
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        for v in self.headers.get_all("cookie") {
            let Ok(s) = v.to_str() else { continue };
            for part in s.split(';') {
                if let Some((k, val)) = part.trim().split_once('=') {
                    if k == name {
                        return Some(val.to_string());
                    }
                }
            }
        }
        None
    }

    fn arg(&self, name: &str) -> Option<String> {
        let args = self.args.as_deref()?;
        for part in args.split('&') {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            if k.eq_ignore_ascii_case(name) {
                return Some(v.to_string());
            }
        }
        None
    }

    fn computed_var(&self, name: &Arc<str>) -> Option<String> {
        if let Some(v) = self.computed.borrow().get(name) {
            return v.clone();
        }
        let http = self.gen.config.http.as_ref()?;
        let def = http.computed.get(name)?.clone();
        // Mark as in progress so a map that refers to itself ends instead of looping.
        self.computed.borrow_mut().insert(name.clone(), None);
        let v = match &*def {
            Computed::Map(m) => {
                let src = m.source.eval(self);
                let low = src.to_ascii_lowercase();
                let host = low.strip_suffix('.').unwrap_or(&low);
                let wild = m
                    .suffixes
                    .iter()
                    .filter(|(suf, bare, _)| {
                        host.ends_with(suf.as_str()) || (*bare && host == &suf[1..])
                    })
                    .max_by_key(|(suf, _, _)| suf.len())
                    .map(|(_, _, v)| v)
                    .or_else(|| {
                        m.prefixes
                            .iter()
                            .filter(|(pre, _)| host.starts_with(pre.as_str()))
                            .max_by_key(|(pre, _)| pre.len())
                            .map(|(_, v)| v)
                    });
                if let Some(v) = m.exact.get(&low).or(wild) {
                    Some(v.eval(self))
                } else {
                    let mut out = None;
                    for (re, val) in &m.regexes {
                        if let Some(caps) = re.captures(&src) {
                            let sub = CaptureScope {
                                ctx: self,
                                m: RegexMatch {
                                    re: re.clone(),
                                    caps,
                                    subject: src.clone(),
                                },
                            };
                            out = Some(val.eval(&sub));
                            break;
                        }
                    }
                    out.or_else(|| Some(m.default.eval(self)))
                }
            }
            Computed::Split(s) => {
                let src = s.source.eval(self);
                let h = murmur2(src.as_bytes());
                s.parts
                    .iter()
                    .find(|(bound, _)| *bound == 0 || h < *bound)
                    .map(|(_, v)| v.eval(self))
                    .or(Some(String::new()))
            }
        };
        self.computed.borrow_mut().insert(name.clone(), v.clone());
        v
    }

    fn capture(&self, m: &RegexMatch, n: usize) -> Option<String> {
        m.caps.get(&m.subject, n).map(str::to_string)
    }

    pub fn request_id(&self) -> String {
        self.request_id
            .borrow_mut()
            .get_or_insert_with(|| {
                let b: [u8; 16] = rand::random();
                b.iter().map(|x| format!("{x:02x}")).collect()
            })
            .clone()
    }
}

impl RequestCtx {
    /// Evaluates `c` with `$1`.. and named captures taken from `m`.
    pub fn eval_with_match(&self, c: &crate::vars::Complex, m: RegexMatch) -> String {
        c.eval(&CaptureScope { ctx: self, m })
    }
}

/// Evaluates a map value with the map regex's captures in scope.
struct CaptureScope<'a> {
    ctx: &'a RequestCtx,
    m: RegexMatch,
}

impl VarSource for CaptureScope<'_> {
    fn var(&self, v: &Var) -> Option<Cow<'_, str>> {
        match v {
            Var::Capture(n) => self.ctx.capture(&self.m, *n).map(Cow::Owned),
            Var::User(name) => {
                if let Some((_, i)) = self.m.re.names.iter().find(|(n, _)| **n == **name) {
                    return self.ctx.capture(&self.m, *i).map(Cow::Owned);
                }
                self.ctx.var(v)
            }
            _ => self.ctx.var(v),
        }
    }
}

/// nginx's `ngx_murmur_hash2`, used by `split_clients`.
pub fn murmur2(data: &[u8]) -> u32 {
    let mut h: u32 = data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(0x5bd1e995);
        k ^= k >> 24;
        k = k.wrapping_mul(0x5bd1e995);
        h = h.wrapping_mul(0x5bd1e995);
        h ^= k;
    }
    let r = chunks.remainder();
    if r.len() >= 3 {
        h ^= (r[2] as u32) << 16;
    }
    if r.len() >= 2 {
        h ^= (r[1] as u32) << 8;
    }
    if !r.is_empty() {
        h ^= r[0] as u32;
        h = h.wrapping_mul(0x5bd1e995);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(0x5bd1e995);
    h ^= h >> 15;
    h
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

impl VarSource for RequestCtx {
    fn var(&self, v: &Var) -> Option<Cow<'_, str>> {
        use Builtin as B;
        let owned = |s: String| Some(Cow::Owned(s));
        match v {
            Var::Builtin(b) => match b {
                B::Host => Some(Cow::Borrowed(&self.host)),
                B::Hostname => owned(hostname()),
                B::Uri | B::DocumentUri => Some(Cow::Borrowed(&self.uri)),
                B::RequestUri => Some(Cow::Borrowed(&self.request_uri)),
                B::Args => self.args.as_deref().map(Cow::Borrowed),
                B::IsArgs => Some(Cow::Borrowed(if self.args.is_some() { "?" } else { "" })),
                B::RemoteAddr => owned(self.conn.remote.ip().to_string()),
                B::RemotePort => owned(self.conn.remote.port().to_string()),
                B::BinaryRemoteAddr => {
                    let bytes = match self.conn.remote.ip() {
                        std::net::IpAddr::V4(a) => a.octets().to_vec(),
                        std::net::IpAddr::V6(a) => a.octets().to_vec(),
                    };
                    owned(bytes.into_iter().map(char::from).collect())
                }
                B::RemoteUser => None,
                B::ServerAddr => owned(self.conn.local.ip().to_string()),
                B::ServerPort => owned(self.conn.local.port().to_string()),
                B::ServerName => Some(Cow::Borrowed(&self.server.first_name)),
                B::ServerProtocol => Some(Cow::Borrowed(self.protocol())),
                B::Scheme => Some(Cow::Borrowed(self.scheme())),
                B::Https => Some(Cow::Borrowed(if self.conn.tls.is_some() {
                    "on"
                } else {
                    ""
                })),
                B::SslProtocol => self.conn.tls.as_ref().map(|t| Cow::Borrowed(t.protocol)),
                B::SslCipher => self
                    .conn
                    .tls
                    .as_ref()
                    .map(|t| Cow::Borrowed(t.cipher.as_str())),
                B::SslServerName => self
                    .conn
                    .tls
                    .as_ref()
                    .and_then(|t| t.server_name.as_deref())
                    .map(Cow::Borrowed),
                B::SslClientVerify => self
                    .conn
                    .tls
                    .as_ref()
                    .map(|t| Cow::Borrowed(t.client_verify.as_str())),
                B::SslClientSDn => self
                    .conn
                    .tls
                    .as_ref()
                    .and_then(|t| t.client_dn.as_deref())
                    .map(Cow::Borrowed),
                B::SslClientFingerprint => self
                    .conn
                    .tls
                    .as_ref()
                    .and_then(|t| t.client_fingerprint.as_deref())
                    .map(Cow::Borrowed),
                B::SslSessionReused => self
                    .conn
                    .tls
                    .as_ref()
                    .map(|t| Cow::Borrowed(if t.reused { "r" } else { "." })),
                B::RequestMethod => Some(Cow::Borrowed(self.method.as_str())),
                B::Request => owned(self.request_line()),
                B::Status => owned(format!("{:03}", self.status)),
                B::BodyBytesSent => owned(self.body_bytes_sent.get().to_string()),
                B::BytesSent => {
                    // The head as the HTTP/1 server wrote it; over HTTP/2 (hyper's, which
                    // does not say) an estimate: status line, headers and Date.
                    let head = match self.head_bytes_sent.get() {
                        0 => {
                            17 + self
                                .resp_headers
                                .iter()
                                .map(|(k, v)| (k.as_str().len() + v.len() + 4) as u64)
                                .sum::<u64>()
                                + 37
                        }
                        n => n,
                    };
                    owned((self.body_bytes_sent.get() + head).to_string())
                }
                B::RequestLength => owned(self.request_length.to_string()),
                B::RequestTime => {
                    // As nginx: wall-clock time since the request's start, never negative
                    // (one clock read per request, where an `Instant` would be a second).
                    let ms = crate::clock::system()
                        .duration_since(self.start_time)
                        .unwrap_or_default()
                        .as_millis();
                    owned(format!("{}.{:03}", ms / 1000, ms % 1000))
                }
                B::Msec => {
                    let d = crate::clock::since_epoch();
                    owned(format!("{}.{:03}", d.as_secs(), d.subsec_millis()))
                }
                B::TimeLocal => owned(
                    chrono::Local::now()
                        .format("%d/%b/%Y:%H:%M:%S %z")
                        .to_string(),
                ),
                B::TimeIso8601 => owned(
                    chrono::Local::now()
                        .format("%Y-%m-%dT%H:%M:%S%:z")
                        .to_string(),
                ),
                B::RequestId => owned(self.request_id()),
                B::Connection => owned(self.conn.id.to_string()),
                B::ConnectionRequests => owned(self.conn.requests.get().to_string()),
                B::ContentType => self.header(http::header::CONTENT_TYPE).map(Cow::Borrowed),
                B::ContentLength => self.header(http::header::CONTENT_LENGTH).map(Cow::Borrowed),
                B::NginxVersion => Some(Cow::Borrowed(crate::NGINX_COMPAT)),
                B::DocumentRoot | B::RealpathRoot => {
                    let r = self.conf.root.path.eval(self);
                    if *b == B::RealpathRoot {
                        owned(
                            std::fs::canonicalize(&r)
                                .map(|p| p.display().to_string())
                                .unwrap_or(r),
                        )
                    } else {
                        owned(r)
                    }
                }
                B::RequestFilename => match &self.filename {
                    Some(f) => Some(Cow::Borrowed(f)),
                    None => owned(super::statics::map_path(self)),
                },
                B::Pid => owned(std::process::id().to_string()),
                B::LimitReqStatus => self.limit_req_status.map(Cow::Borrowed),
                B::LimitConnStatus => self.limit_conn_status.map(Cow::Borrowed),
                B::UpstreamAddr
                | B::UpstreamStatus
                | B::UpstreamResponseTime
                | B::UpstreamConnectTime
                | B::UpstreamHeaderTime
                | B::UpstreamResponseLength
                | B::ProxyHost
                | B::ProxyPort => {
                    let u = self.upstream.as_ref()?.borrow();
                    owned(match b {
                        B::UpstreamAddr => u.addr(),
                        B::UpstreamStatus => u.status(),
                        B::UpstreamResponseTime => u.response_time(),
                        B::UpstreamConnectTime => u.connect_time(),
                        B::UpstreamHeaderTime => u.header_time(),
                        B::UpstreamResponseLength => u.response_length(),
                        B::ProxyHost => u.proxy_host.clone(),
                        _ => u.proxy_port.to_string(),
                    })
                }
                B::ApiKeyId => self.api_key.as_ref().map(|k| Cow::Borrowed(k.id.as_str())),
                B::ApiKeyTier => self
                    .api_key
                    .as_ref()
                    .and_then(|k| k.tier.as_deref())
                    .map(Cow::Borrowed),
                B::UpstreamCacheStatus => {
                    let s = self.upstream.as_ref()?.borrow().cache_status?;
                    Some(Cow::Borrowed(s))
                }
                B::ProxyAddXForwardedFor => {
                    let ip = self.conn.remote.ip().to_string();
                    owned(match self.var(&Var::Http("x-forwarded-for".into())) {
                        Some(x) => format!("{x}, {ip}"),
                        None => ip,
                    })
                }
            },
            Var::Arg(name) => self.arg(name).map(Cow::Owned),
            Var::Http(name) => {
                let mut vals = self.headers.get_all(name.as_str());
                let first = vals.next()?;
                let mut s = String::from_utf8_lossy(first.as_bytes()).into_owned();
                let sep = if name == "cookie" { "; " } else { ", " };
                for v in vals {
                    s.push_str(sep);
                    s.push_str(&String::from_utf8_lossy(v.as_bytes()));
                }
                owned(s)
            }
            Var::Cookie(name) => self.cookie(name).map(Cow::Owned),
            Var::SentHttp(name) => self
                .resp_headers
                .get(name.as_str())
                .map(|v| Cow::Owned(String::from_utf8_lossy(v.as_bytes()).into_owned())),
            Var::UpstreamHttp(name) => {
                let u = self.upstream.as_ref()?.borrow();
                let v = u.headers.get(name.as_str())?;
                owned(String::from_utf8_lossy(v.as_bytes()).into_owned())
            }
            Var::Capture(n) => self
                .captures
                .as_ref()
                .and_then(|m| self.capture(m, *n).map(Cow::Owned)),
            Var::User(name) => {
                if let Some(v) = self.user_vars.get(name) {
                    return Some(Cow::Borrowed(v));
                }
                if let Some(m) = &self.captures {
                    if let Some((_, i)) = m.re.names.iter().find(|(n, _)| **n == **name) {
                        return self.capture(m, *i).map(Cow::Owned);
                    }
                }
                let v = self.computed_var(name);
                if v.is_none()
                    && self.conf.uninitialized_variable_warn
                    && !self
                        .gen
                        .config
                        .http
                        .as_ref()
                        .is_some_and(|h| h.computed.contains_key(name))
                {
                    self.log(
                        crate::observe::Level::Warn,
                        &format!("using uninitialized \"{name}\" variable"),
                    );
                }
                v.map(Cow::Owned)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn murmur2_matches_nginx() {
        // Reference values from nginx's ngx_murmur_hash2.
        assert_eq!(super::murmur2(b""), 0);
        assert_ne!(super::murmur2(b"abc"), super::murmur2(b"abd"));
    }
}
