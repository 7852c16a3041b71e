//! `ngx.socket.tcp()` cosockets: non-blocking TCP that yields the coroutine, with
//! OpenResty's methods and error strings (`connect`, `sslhandshake`, `send`,
//! `receive("*l"|"*a"|n)`, `receiveany`, `receiveuntil`, `settimeout(s)`, `setkeepalive`
//! into a per-worker pool with idle timeouts, `getreusedtimes`, `close`). Names other than
//! IP addresses and `localhost` go through the location's `resolver`.

use super::api::{check_phase, rt, LResult, COSOCKET_PHASES};
use super::req::with_state;
use super::sockstream::{handshake_error, Conn};
use ahash::AHashMap as HashMap;
use mlua::{Lua, MultiValue, Table, UserData, UserDataMethods, Value};
use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod anchor;
pub(super) mod fast;

struct Pooled {
    stream: Conn,
    reused: u32,
    /// When the idle connection is dropped instead of reused (None: never).
    until: Option<std::time::Instant>,
    /// The socket's read buffer (empty), so the next user need not allocate one.
    buf: Vec<u8>,
}

/// What `sslhandshake` returns for a session (OpenResty's is an opaque cdata; rustls
/// resumes sessions by server name on its own, so this one only stands for it).
struct SslSession;
impl UserData for SslSession {}

thread_local! {
    /// Idle connections by "host:port" (or the `pool` option), per worker.
    static POOL: RefCell<HashMap<String, Vec<Pooled>>> = RefCell::default();
}

#[derive(Default)]
struct Inner {
    stream: Option<Conn>,
    buf: Vec<u8>,
    pool_key: Option<String>,
    reused: u32,
    connect_timeout: Duration,
    send_timeout: Duration,
    read_timeout: Duration,
    /// `setkeepalive`'s defaults (lua_socket_keepalive_timeout, lua_socket_pool_size).
    keepalive: Duration,
    pool_size: usize,
    log_errors: bool,
    /// The unsent end of a `send` the fast path began, and the whole length.
    pending_send: Option<(Vec<u8>, usize)>,
    /// The timer of the `receive` under way, once the fast path began waiting: its
    /// deadline is the receive's (the userdata's `receive` takes it over, so a handover
    /// does not restart the clock).
    read_wait: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

/// A TCP cosocket: its state, shared with the socket registry (`fast.rs`) under the id the
/// Lua object keeps for the FFI fast paths. `ngx.socket.tcp()` objects hold their slot
/// through an anchor (`anchor.rs`) and get a `TcpSock` only for a slow-path call; the
/// request's own sockets (`ngx.req.socket`) own their slot (the third field) and free it
/// when the userdata goes.
pub struct TcpSock(Rc<RefCell<Inner>>, u32, bool);

impl Drop for TcpSock {
    fn drop(&mut self) {
        if self.2 {
            fast::release(self.1);
        }
    }
}

use super::api::nil_err;

fn ms(v: Option<f64>) -> Duration {
    Duration::from_millis(v.unwrap_or(60_000.0).max(0.0) as u64)
}

/// Writes a cosocket failure to error.log with lua-nginx-module's words (when
/// `lua_socket_log_errors` is on): in the request's context, or plain in timers.
fn log_failure(this: &TcpSock, msg: &str) {
    if !this.0.borrow().log_errors {
        return;
    }
    let logged = super::req::with_req(|_, ctx| {
        ctx.log(crate::observe::Level::Error, msg);
        Ok(())
    });
    if logged.is_err() {
        crate::observe::log(crate::observe::Level::Error, msg, None);
    }
}

/// nginx's `connect() failed (111: Connection refused)`.
fn connect_failure(target: &Target, e: &std::io::Error) -> String {
    let code = e.raw_os_error().unwrap_or(0);
    let text = crate::error::strerror(e);
    match target {
        Target::Inet(_) => format!("connect() failed ({code}: {text})"),
        Target::Unix(p) => format!("connect() to unix:{} failed ({code}: {text})", p.display()),
    }
}

/// Where `connect` goes.
enum Target {
    Inet(SocketAddr),
    Unix(std::path::PathBuf),
}

fn io_err(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory",
        std::io::ErrorKind::PermissionDenied => "permission denied",
        std::io::ErrorKind::ConnectionRefused => "connection refused",
        std::io::ErrorKind::TimedOut => "timeout",
        std::io::ErrorKind::ConnectionReset => "connection reset by peer",
        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::UnexpectedEof => "closed",
        _ => "closed",
    }
}

impl TcpSock {
    /// `ngx.req.socket()`: a read-only cosocket over the request body (its methods are
    /// the TCP ones; `send` says `closed`, nothing is pooled).
    pub fn request_body(body: crate::pipeline::ReqBody) -> TcpSock {
        let s = TcpSock::new();
        s.0.borrow_mut().stream = Some(Conn::Body(super::sockstream::BodyReader::new(body)));
        s
    }

    /// `ngx.req.socket(true)`: a full-duplex cosocket over the client connection the
    /// server handed over (nothing is pooled).
    pub fn raw_request(io: super::sockstream::RawIo) -> TcpSock {
        let s = TcpSock::new();
        s.0.borrow_mut().stream = Some(Conn::Raw(io));
        s
    }

    /// A socket owning a new slot.
    fn new() -> TcpSock {
        let inner = new_inner();
        let id = fast::register(&inner);
        TcpSock(inner, id, true)
    }
}

/// A socket's state with the location's `lua_socket_*` defaults (nginx's outside requests).
fn new_inner() -> Rc<RefCell<Inner>> {
    let c = super::req::with_req(|_, ctx| Ok(ctx.conf.lua_socket)).unwrap_or_default();
    Rc::new(RefCell::new(Inner {
        connect_timeout: c.connect_timeout,
        send_timeout: c.send_timeout,
        read_timeout: c.read_timeout,
        keepalive: c.keepalive_timeout,
        pool_size: c.pool_size,
        log_errors: c.log_errors,
        ..Default::default()
    }))
}

/// Flattens a string, number or nested array of them (ngx.socket's send argument).
fn flatten(v: &Value, out: &mut Vec<u8>) -> LResult<()> {
    match v {
        Value::String(s) => out.extend_from_slice(&s.as_bytes()),
        Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Number(n) => out.extend_from_slice(super::api::lua_number(*n).as_bytes()),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"nil"),
        Value::Table(t) => {
            for item in t.clone().sequence_values::<Value>() {
                flatten(&item?, out)?;
            }
        }
        other => {
            return Err(rt(format!(
                "bad argument #1 to 'send' (string, number, boolean, nil, or array table expected, got {})",
                other.type_name()
            )))
        }
    }
    Ok(())
}

/// The VM's `lua_ssl_*` client settings; a VM without a configuration (the REPL) gets the
/// defaults: no trusted certificates.
fn lua_ssl(lua: &Lua) -> std::sync::Arc<crate::config::LuaSsl> {
    if let Some(s) = lua.app_data_ref::<std::sync::Arc<crate::config::LuaSsl>>() {
        return s.clone();
    }
    thread_local! {
        static DEFAULT: RefCell<Option<std::sync::Arc<crate::config::LuaSsl>>> = const { RefCell::new(None) };
    }
    DEFAULT.with(|d| {
        d.borrow_mut()
            .get_or_insert_with(|| {
                let versions = [&rustls::version::TLS13, &rustls::version::TLS12];
                // Building with no files cannot fail but for a provider error, which
                // would fail every configuration's load first.
                std::sync::Arc::new(
                    crate::config::LuaSsl::build(None, &versions)
                        .expect("default TLS client configuration"),
                )
            })
            .clone()
    })
}

/// A cosocket peer's address: an IP literal, `localhost`, or a name through the
/// request's `resolver` (a random one of its addresses, as OpenResty picks).
async fn resolve_host(host: &str) -> Result<IpAddr, String> {
    if let Some(ip) = literal_ip(host) {
        return Ok(ip);
    }
    let resolver = super::req::with_req(|_, ctx| Ok(ctx.conf.resolver.clone()))
        .ok()
        .flatten()
        .ok_or_else(|| format!("no resolver defined to resolve \"{host}\""))?;
    let ips = resolver.resolve(host).await.map_err(|e| e.message(host))?;
    Ok(ips[rand::random::<usize>() % ips.len()])
}

/// A peer given without a name to resolve: an IP literal (IPv6 in brackets or not), or
/// `localhost`.
fn literal_ip(host: &str) -> Option<IpAddr> {
    if host == "localhost" {
        return Some(IpAddr::from([127, 0, 0, 1]));
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// The pool a connection to `host:port` goes to without a `pool` option (the host as
/// given, not its address, as lua-nginx-module keys it).
fn pool_key(host: &str, port: u16) -> String {
    // Not `format!`: it costs over a thousand instructions, and every connect makes one.
    let mut key = String::with_capacity(host.len() + 6);
    key.push_str(host);
    key.push(':');
    key.push_str(itoa::Buffer::new().format(port));
    key
}

/// An idle pooled connection for `key` (ones idle too long are dropped on the way).
fn take_pooled(key: &str) -> Option<Pooled> {
    let now = std::time::Instant::now();
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let list = pool.get_mut(key)?;
        while let Some(c) = list.pop() {
            if c.until.is_none_or(|t| t > now) {
                return Some(c);
            }
        }
        None
    })
}

/// Why `setkeepalive` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Closed,
    UnreadData,
}

impl Refusal {
    /// OpenResty's words for it.
    pub fn words(self) -> &'static str {
        match self {
            Refusal::Closed => "closed",
            Refusal::UnreadData => "unread data in buffer",
        }
    }
}

impl Inner {
    /// Takes a pooled connection as this socket's.
    fn adopt(&mut self, p: Pooled, key: String) {
        self.stream = Some(p.stream);
        self.buf = p.buf;
        self.reused = p.reused + 1;
        self.pool_key = Some(key);
    }

    /// `setkeepalive(timeout, size)`: puts the connection in its pool (or drops it when
    /// the pool is full).
    fn keepalive(&mut self, timeout: Option<f64>, size: Option<usize>) -> Result<(), Refusal> {
        let stream = match self.stream.take() {
            None => return Err(Refusal::Closed),
            // The request body and connection cannot outlive their request.
            Some(Conn::Body(_) | Conn::Raw(_)) => return Ok(()),
            // Refused with the connection kept open, as OpenResty does.
            Some(s) if !self.buf.is_empty() => {
                self.stream = Some(s);
                return Err(Refusal::UnreadData);
            }
            Some(s) => s,
        };
        let key = self.pool_key.clone().unwrap_or_default();
        let reused = self.reused;
        POOL.with(|p| {
            let mut pool = p.borrow_mut();
            let list = pool.entry(key).or_default();
            if list.len() < size.unwrap_or(self.pool_size).max(1) {
                // 0 keeps it forever, as lua_socket_keepalive_timeout 0.
                let idle = timeout.map_or(self.keepalive, |ms| {
                    Duration::from_millis(ms.max(0.0) as u64)
                });
                let until = (!idle.is_zero()).then(|| std::time::Instant::now() + idle);
                let mut buf = std::mem::take(&mut self.buf);
                if buf.capacity() > 64 * 1024 {
                    buf = Vec::new();
                }
                list.push(Pooled {
                    stream,
                    reused,
                    until,
                    buf,
                });
            }
        });
        Ok(())
    }

    /// `settimeout(ms)`: all three timeouts.
    fn set_timeout(&mut self, t: Option<f64>) {
        let d = ms(t);
        self.connect_timeout = d;
        self.send_timeout = d;
        self.read_timeout = d;
    }
}

/// What `receive` waits for.
enum Want {
    Line,
    All,
    Bytes(usize),
}

/// `receive`'s pattern argument.
fn want(pattern: &Option<Value>) -> LResult<Want> {
    Ok(match pattern {
        None => Want::Line,
        Some(Value::String(s)) => match s.to_str()?.as_ref() {
            "*l" | "l" => Want::Line,
            "*a" | "a" => Want::All,
            other => {
                return Err(rt(format!(
                    "bad argument #1 to 'receive' (bad pattern argument: {other})"
                )))
            }
        },
        Some(Value::Integer(n)) if *n >= 0 => Want::Bytes(*n as usize),
        Some(Value::Number(n)) if *n >= 0.0 => Want::Bytes(*n as usize),
        Some(other) => {
            return Err(rt(format!(
                "bad argument #1 to 'receive' (bad pattern argument: {})",
                other.type_name()
            )))
        }
    })
}

/// Where the answer to `want` lies in `buf`, once enough is buffered: the length of the
/// data (a line without its `\r\n`) and of what it takes off the buffer.
fn ready_span(buf: &[u8], want: &Want) -> Option<(usize, usize)> {
    match want {
        Want::Line => {
            let end = buf.iter().position(|&b| b == b'\n')?;
            let len = if end > 0 && buf[end - 1] == b'\r' {
                end - 1
            } else {
                end
            };
            Some((len, end + 1))
        }
        Want::Bytes(n) => (buf.len() >= *n).then_some((*n, *n)),
        Want::All => None,
    }
}

impl UserData for TcpSock {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_async_method(
            "connect",
            |lua, this, (host, port, opts): (String, Value, Option<Table>)| async move {
                with_state(|st| check_phase(st, COSOCKET_PHASES))?;
                // connect("unix:/path" [, opts]) or connect(host, port [, opts]).
                let (port, opts) = match (port, opts) {
                    (Value::Table(t), None) => (None, Some(t)),
                    (Value::Nil, o) => (None, o),
                    (Value::Integer(p), o) => (u16::try_from(p).ok(), o),
                    (Value::Number(p), o) if p.fract() == 0.0 && (0.0..65536.0).contains(&p) => {
                        (Some(p as u16), o)
                    }
                    (Value::String(s), o) => (s.to_str()?.trim().parse().ok(), o),
                    (other, _) => {
                        return Err(rt(format!(
                            "bad argument #2 to 'connect' (number expected, got {})",
                            other.type_name()
                        )))
                    }
                };
                let pool_opt: Option<String> = match &opts {
                    Some(o) => o.get("pool")?,
                    None => None,
                };
                let target = if let Some(path) = host.strip_prefix("unix:") {
                    Target::Unix(std::path::PathBuf::from(path))
                } else {
                    let Some(port) = port else {
                        return Err(rt(
                            "bad argument #2 to 'connect' (number expected, got nil)",
                        ));
                    };
                    let ip = match resolve_host(&host).await {
                        Ok(ip) => ip,
                        Err(e) => return nil_err(&lua, &e),
                    };
                    Target::Inet(SocketAddr::new(ip, port))
                };
                let key = pool_opt.unwrap_or_else(|| match &target {
                    Target::Unix(_) => host.clone(),
                    Target::Inet(a) => pool_key(&host, a.port()),
                });
                // An idle pooled connection first (ones idle too long are dropped).
                if let Some(p) = take_pooled(&key) {
                    this.0.borrow_mut().adopt(p, key);
                    return Ok(MultiValue::from_iter([Value::Integer(1)]));
                }
                let timeout = this.0.borrow().connect_timeout;
                let connect = async {
                    match &target {
                        Target::Inet(addr) => TcpStream::connect(addr).await.map(|s| {
                            let _ = s.set_nodelay(true);
                            Conn::Plain(s)
                        }),
                        Target::Unix(path) => {
                            tokio::net::UnixStream::connect(path).await.map(Conn::Unix)
                        }
                    }
                };
                match tokio::time::timeout(timeout, connect).await {
                    Err(_) => {
                        let to = match &target {
                            Target::Inet(a) => a.to_string(),
                            Target::Unix(p) => format!("unix:{}", p.display()),
                        };
                        log_failure(
                            &this,
                            &format!("lua tcp socket connect timed out, when connecting to {to}"),
                        );
                        nil_err(&lua, "timeout")
                    }
                    Ok(Err(e)) => {
                        log_failure(&this, &connect_failure(&target, &e));
                        nil_err(&lua, io_err(&e))
                    }
                    Ok(Ok(conn)) => {
                        let mut g = this.0.borrow_mut();
                        g.stream = Some(conn);
                        g.buf.clear();
                        g.reused = 0;
                        g.pool_key = Some(key);
                        Ok(MultiValue::from_iter([Value::Integer(1)]))
                    }
                }
            },
        );
        // sslhandshake(reused_session?, server_name?, ssl_verify?, send_status_req?):
        // TLS over the connected socket; `lua_ssl_trusted_certificate` when verifying.
        m.add_async_method(
            "sslhandshake",
            |lua,
             this,
             (reused, name, verify, _status): (
                Value,
                Option<String>,
                Option<bool>,
                Option<Value>,
            )| async move {
                with_state(|st| check_phase(st, COSOCKET_PHASES))?;
                let session = |lua: &Lua| -> LResult<MultiValue> {
                    if matches!(reused, Value::Boolean(false)) {
                        return Ok(MultiValue::from_iter([Value::Boolean(true)]));
                    }
                    Ok(MultiValue::from_iter([Value::UserData(
                        lua.create_userdata(SslSession)?,
                    )]))
                };
                let (stream, timeout) = {
                    let mut g = this.0.borrow_mut();
                    (g.stream.take(), g.connect_timeout)
                };
                let tcp = match stream {
                    None => return nil_err(&lua, "closed"),
                    Some(tls @ Conn::Tls(_)) => {
                        // A pooled connection that already speaks TLS.
                        this.0.borrow_mut().stream = Some(tls);
                        return session(&lua);
                    }
                    Some(Conn::Plain(tcp)) => tcp,
                    Some(other @ (Conn::Body(_) | Conn::Unix(_) | Conn::Raw(_))) => {
                        this.0.borrow_mut().stream = Some(other);
                        return nil_err(&lua, "not supported on this socket");
                    }
                };
                let server_name = match &name {
                    Some(n) => match rustls::pki_types::ServerName::try_from(n.clone()) {
                        Ok(s) => s,
                        Err(_) => return nil_err(&lua, "bad server name"),
                    },
                    None => match tcp.peer_addr() {
                        Ok(a) => rustls::pki_types::ServerName::IpAddress(a.ip().into()),
                        Err(e) => return nil_err(&lua, io_err(&e)),
                    },
                };
                let ssl = lua_ssl(&lua);
                let cfg = if verify == Some(true) {
                    ssl.verify.clone()
                } else {
                    ssl.no_verify.clone()
                };
                let connect = tokio_rustls::TlsConnector::from(cfg).connect(server_name, tcp);
                match tokio::time::timeout(timeout, connect).await {
                    Err(_) => nil_err(&lua, "timeout"),
                    Ok(Err(e)) => nil_err(&lua, &handshake_error(&e)),
                    Ok(Ok(tls)) => {
                        this.0.borrow_mut().stream = Some(Conn::Tls(Box::new(tls)));
                        session(&lua)
                    }
                }
            },
        );
        m.add_async_method("send", |lua, this, data: Value| async move {
            with_state(|st| check_phase(st, COSOCKET_PHASES))?;
            let (stream, timeout, pending) = {
                let mut g = this.0.borrow_mut();
                (g.stream.take(), g.send_timeout, g.pending_send.take())
            };
            // What `oc_try_send` could not write at once (it wrote the rest of `data`).
            let (bytes, total) = match pending {
                Some(p) => p,
                None => {
                    let mut bytes = Vec::new();
                    flatten(&data, &mut bytes)?;
                    let n = bytes.len();
                    (bytes, n)
                }
            };
            let Some(mut stream) = stream else {
                return nil_err(&lua, "closed");
            };
            let r = tokio::time::timeout(timeout, stream.write_all(&bytes)).await;
            match r {
                Ok(Ok(())) => {
                    this.0.borrow_mut().stream = Some(stream);
                    Ok(MultiValue::from_iter([Value::Integer(total as i64)]))
                }
                Err(_) => {
                    this.0.borrow_mut().stream = Some(stream);
                    log_failure(&this, "lua tcp socket write timed out");
                    nil_err(&lua, "timeout")
                }
                Ok(Err(e)) => nil_err(&lua, io_err(&e)),
            }
        });
        m.add_async_method("receive", |lua, this, pattern: Option<Value>| async move {
            with_state(|st| check_phase(st, COSOCKET_PHASES))?;
            let want = want(&pattern)?;
            let (stream, mut buf, timeout, deadline) = {
                let mut g = this.0.borrow_mut();
                let deadline = g.read_wait.take().map(|t| t.deadline());
                (
                    g.stream.take(),
                    std::mem::take(&mut g.buf),
                    g.read_timeout,
                    deadline,
                )
            };
            let Some(mut stream) = stream else {
                return nil_err(&lua, "closed");
            };
            let deadline = deadline.unwrap_or_else(|| tokio::time::Instant::now() + timeout);
            let mut closed = false;
            loop {
                // Enough buffered?
                if let Some((len, used)) = ready_span(&buf, &want) {
                    let data = lua.create_string(&buf[..len]);
                    buf.drain(..used);
                    let mut g = this.0.borrow_mut();
                    g.stream = Some(stream);
                    g.buf = buf;
                    return Ok(MultiValue::from_iter([Value::String(data?)]));
                }
                if closed {
                    if matches!(want, Want::All) {
                        return Ok(MultiValue::from_iter([Value::String(
                            lua.create_string(&buf)?,
                        )]));
                    }
                    return Ok(MultiValue::from_iter([
                        Value::Nil,
                        Value::String(lua.create_string("closed")?),
                        Value::String(lua.create_string(&buf)?),
                    ]));
                }
                // Straight into the buffer's spare room: a stack chunk would be zeroed and
                // copied with the future on every call.
                buf.reserve(16 * 1024);
                match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
                    Err(_) => {
                        let partial = std::mem::take(&mut buf);
                        {
                            let mut g = this.0.borrow_mut();
                            g.stream = Some(stream);
                        }
                        log_failure(&this, "lua tcp socket read timed out");
                        return Ok(MultiValue::from_iter([
                            Value::Nil,
                            Value::String(lua.create_string("timeout")?),
                            Value::String(lua.create_string(partial)?),
                        ]));
                    }
                    Ok(Ok(0)) => closed = true,
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        return Ok(MultiValue::from_iter([
                            Value::Nil,
                            Value::String(lua.create_string(io_err(&e))?),
                            Value::String(lua.create_string(&buf)?),
                        ]))
                    }
                }
            }
        });
        m.add_async_method("receiveany", |lua, this, max: usize| async move {
            with_state(|st| check_phase(st, COSOCKET_PHASES))?;
            let (stream, mut buf, timeout) = {
                let mut g = this.0.borrow_mut();
                (g.stream.take(), std::mem::take(&mut g.buf), g.read_timeout)
            };
            let Some(mut stream) = stream else {
                return nil_err(&lua, "closed");
            };
            if buf.is_empty() {
                let max = max.clamp(1, 1 << 20);
                buf.reserve(max);
                let mut room = bytes::BufMut::limit(&mut buf, max);
                match tokio::time::timeout(timeout, stream.read_buf(&mut room)).await {
                    Err(_) => {
                        this.0.borrow_mut().stream = Some(stream);
                        log_failure(&this, "lua tcp socket read timed out");
                        return nil_err(&lua, "timeout");
                    }
                    Ok(Ok(0)) => return nil_err(&lua, "closed"),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return nil_err(&lua, io_err(&e)),
                }
            }
            let take = buf.len().min(max);
            let out: Vec<u8> = buf.drain(..take).collect();
            let mut g = this.0.borrow_mut();
            g.stream = Some(stream);
            g.buf = buf;
            Ok(MultiValue::from_iter([Value::String(
                lua.create_string(out)?,
            )]))
        });
        // receiveuntil(pattern, {inclusive = bool}) -> iterator(size?): data before the
        // pattern (whole, or in chunks of at most `size` followed by nil at the pattern).
        m.add_function(
            "receiveuntil",
            |lua, (ud, pattern, opts): (mlua::AnyUserData, mlua::LuaString, Option<Table>)| {
                let pat = pattern.as_bytes().to_vec();
                if pat.is_empty() {
                    return Err(rt("pattern is empty"));
                }
                let inclusive = match &opts {
                    Some(o) => o.get::<Option<bool>>("inclusive")?.unwrap_or(false),
                    None => false,
                };
                let done = std::rc::Rc::new(std::cell::Cell::new(false));
                lua.create_async_function(move |lua, size: Option<usize>| {
                    let ud = ud.clone();
                    let pat = pat.clone();
                    let done = done.clone();
                    async move {
                        with_state(|st| check_phase(st, COSOCKET_PHASES))?;
                        let this = ud.borrow::<TcpSock>()?;
                        if done.get() {
                            // At the pattern: nil, nil, nil, as OpenResty's iterator.
                            done.set(false);
                            return Ok(MultiValue::from_iter([Value::Nil, Value::Nil, Value::Nil]));
                        }
                        let (stream, mut buf, timeout) = {
                            let mut g = this.0.borrow_mut();
                            (g.stream.take(), std::mem::take(&mut g.buf), g.read_timeout)
                        };
                        drop(this);
                        let Some(mut stream) = stream else {
                            return nil_err(&lua, "closed");
                        };
                        let deadline = tokio::time::Instant::now() + timeout;
                        let put_back = |ud: &mlua::AnyUserData, stream: Conn, buf: Vec<u8>| {
                            if let Ok(this) = ud.borrow::<TcpSock>() {
                                let mut g = this.0.borrow_mut();
                                g.stream = Some(stream);
                                g.buf = buf;
                            }
                        };
                        loop {
                            let found = buf.windows(pat.len()).position(|w| w == pat.as_slice());
                            match (found, size) {
                                (Some(at), Some(max)) if at > max => {
                                    let out: Vec<u8> = buf.drain(..max).collect();
                                    put_back(&ud, stream, buf);
                                    return Ok(MultiValue::from_iter([Value::String(
                                        lua.create_string(out)?,
                                    )]));
                                }
                                (Some(at), _) => {
                                    let end = if inclusive { at + pat.len() } else { at };
                                    let out: Vec<u8> = buf.drain(..end).collect();
                                    if !inclusive {
                                        buf.drain(..pat.len());
                                    }
                                    // With a size, the pattern is reported by the next call.
                                    if size.is_some() {
                                        done.set(true);
                                    }
                                    put_back(&ud, stream, buf);
                                    return Ok(MultiValue::from_iter([Value::String(
                                        lua.create_string(out)?,
                                    )]));
                                }
                                (None, Some(max)) if buf.len() >= max + pat.len() => {
                                    let out: Vec<u8> = buf.drain(..max).collect();
                                    put_back(&ud, stream, buf);
                                    return Ok(MultiValue::from_iter([Value::String(
                                        lua.create_string(out)?,
                                    )]));
                                }
                                _ => {}
                            }
                            buf.reserve(16 * 1024);
                            match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await
                            {
                                Err(_) => {
                                    let partial = std::mem::take(&mut buf);
                                    put_back(&ud, stream, Vec::new());
                                    if let Ok(this) = ud.borrow::<TcpSock>() {
                                        log_failure(&this, "lua tcp socket read timed out");
                                    }
                                    return Ok(MultiValue::from_iter([
                                        Value::Nil,
                                        Value::String(lua.create_string("timeout")?),
                                        Value::String(lua.create_string(partial)?),
                                    ]));
                                }
                                Ok(Ok(0)) => {
                                    return Ok(MultiValue::from_iter([
                                        Value::Nil,
                                        Value::String(lua.create_string("closed")?),
                                        Value::String(lua.create_string(&buf)?),
                                    ]))
                                }
                                Ok(Ok(_)) => {}
                                Ok(Err(e)) => {
                                    return Ok(MultiValue::from_iter([
                                        Value::Nil,
                                        Value::String(lua.create_string(io_err(&e))?),
                                        Value::String(lua.create_string(&buf)?),
                                    ]))
                                }
                            }
                        }
                    }
                })
            },
        );
        m.add_method("settimeout", |_, this, t: Option<f64>| {
            this.0.borrow_mut().set_timeout(t);
            Ok(())
        });
        m.add_method(
            "settimeouts",
            |_, this, (c, s, r): (Option<f64>, Option<f64>, Option<f64>)| {
                let mut g = this.0.borrow_mut();
                g.connect_timeout = ms(c);
                g.send_timeout = ms(s);
                g.read_timeout = ms(r);
                Ok(())
            },
        );
        m.add_method("oc_try_send", |_, this, data: Value| {
            fast::try_send(this, &data)
        });
        m.add_method("setoption", |_, _, _: MultiValue| Ok(true));
        m.add_method("getreusedtimes", |lua, this, ()| {
            let g = this.0.borrow();
            if g.stream.is_none() {
                return nil_err(lua, "closed");
            }
            Ok(MultiValue::from_iter([Value::Integer(g.reused as i64)]))
        });
        m.add_method("close", |lua, this, ()| {
            let mut g = this.0.borrow_mut();
            if g.stream.take().is_none() {
                return nil_err(lua, "closed");
            }
            g.buf.clear();
            Ok(MultiValue::from_iter([Value::Integer(1)]))
        });
        m.add_method(
            "setkeepalive",
            |lua, this, (timeout, size): (Option<f64>, Option<usize>)| match this
                .0
                .borrow_mut()
                .keepalive(timeout, size)
            {
                Ok(()) => Ok(MultiValue::from_iter([Value::Integer(1)])),
                Err(e) => nil_err(lua, e.words()),
            },
        );
    }
}

/// `ngx.socket.udp()`: `setpeername`, `send`, `receive(size)`, `settimeout`, `close`.
pub struct UdpSock(RefCell<(Option<std::rc::Rc<tokio::net::UdpSocket>>, Duration)>);

impl UserData for UdpSock {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_async_method(
            "setpeername",
            |lua, this, (host, port): (String, Option<u16>)| async move {
                with_state(|st| check_phase(st, COSOCKET_PHASES))?;
                let Some(port) = port else {
                    return nil_err(&lua, "unix domain sockets are not supported yet");
                };
                let ip = match resolve_host(&host).await {
                    Ok(ip) => ip,
                    Err(e) => return nil_err(&lua, &e),
                };
                let peer = SocketAddr::new(ip, port);
                let bind: SocketAddr = if ip.is_ipv4() {
                    "0.0.0.0:0".parse().expect("valid address")
                } else {
                    "[::]:0".parse().expect("valid address")
                };
                let sock = match tokio::net::UdpSocket::bind(bind).await {
                    Ok(s) => s,
                    Err(e) => return nil_err(&lua, io_err(&e)),
                };
                if let Err(e) = sock.connect(peer).await {
                    return nil_err(&lua, io_err(&e));
                }
                this.0.borrow_mut().0 = Some(std::rc::Rc::new(sock));
                Ok(MultiValue::from_iter([Value::Integer(1)]))
            },
        );
        m.add_async_method("send", |lua, this, data: Value| async move {
            with_state(|st| check_phase(st, COSOCKET_PHASES))?;
            let mut bytes = Vec::new();
            flatten(&data, &mut bytes)?;
            let Some(sock) = this.0.borrow().0.clone() else {
                return nil_err(&lua, "closed");
            };
            match sock.send(&bytes).await {
                Ok(_) => Ok(MultiValue::from_iter([Value::Integer(1)])),
                Err(e) => nil_err(&lua, io_err(&e)),
            }
        });
        m.add_async_method("receive", |lua, this, size: Option<usize>| async move {
            with_state(|st| check_phase(st, COSOCKET_PHASES))?;
            let (sock, timeout) = {
                let g = this.0.borrow();
                (g.0.clone(), g.1)
            };
            let Some(sock) = sock else {
                return nil_err(&lua, "closed");
            };
            let mut buf = vec![0u8; size.unwrap_or(8192).clamp(1, 65536)];
            match tokio::time::timeout(timeout, sock.recv(&mut buf)).await {
                Err(_) => nil_err(&lua, "timeout"),
                Ok(Err(e)) => nil_err(&lua, io_err(&e)),
                Ok(Ok(n)) => Ok(MultiValue::from_iter([Value::String(
                    lua.create_string(&buf[..n])?,
                )])),
            }
        });
        m.add_method("settimeout", |_, this, t: Option<f64>| {
            this.0.borrow_mut().1 = ms(t);
            Ok(())
        });
        m.add_method("close", |lua, this, ()| {
            if this.0.borrow_mut().0.take().is_none() {
                return nil_err(lua, "closed");
            }
            Ok(MultiValue::from_iter([Value::Integer(1)]))
        });
    }
}

pub fn install(lua: &Lua, ngx: &Table) -> LResult<()> {
    let socket = lua.create_table()?;
    // The methods' userdata for a slot, made on a socket's first slow-path call.
    let attach = lua.create_function(|_, id: f64| Ok(fast::attach(id)))?;
    socket.set("tcp", fast::wrap(lua, attach)?)?;
    socket.set(
        "udp",
        lua.create_function(|_, ()| Ok(UdpSock(RefCell::new((None, Duration::from_secs(60))))))?,
    )?;
    ngx.set("socket", socket)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use mlua::{Lua, Table};

    fn vm() -> (Lua, Table) {
        // SAFETY: a test VM with every library, FFI included, as the workers' VMs have.
        let lua = unsafe { Lua::unsafe_new() };
        let ngx = lua.create_table().unwrap();
        super::install(&lua, &ngx).unwrap();
        lua.globals().set("ngx", ngx.clone()).unwrap();
        (lua, ngx)
    }

    #[test]
    fn a_socket_lives_as_long_as_its_object_and_the_methods_userdata() {
        let (lua, _ngx) = vm();
        let before = super::fast::live_count();
        lua.load("keep = {} for i = 1, 100 do keep[i] = ngx.socket.tcp() end")
            .exec()
            .unwrap();
        assert_eq!(super::fast::live_count(), before + 100);
        // A slow-path call makes the methods' userdata; the id field no longer matters.
        let r: (Option<bool>, String) = lua
            .load("local s = keep[1] s[2] = 'x' return s:close()")
            .eval()
            .unwrap();
        assert_eq!(r, (None, "closed".to_string()));
        lua.load("keep = nil collectgarbage() collectgarbage()")
            .exec()
            .unwrap();
        assert_eq!(super::fast::live_count(), before);
        // Scripts cannot reach the anchors' finalizer.
        let mt: mlua::Value = lua
            .load("return getmetatable(ngx.socket.tcp()[1])")
            .eval()
            .unwrap();
        assert_eq!(mt, mlua::Value::Boolean(false));
        // Methods on something that is not a socket say so, as lua-nginx-module does.
        let e = lua
            .load("return ngx.socket.tcp().close({ 1 })")
            .exec()
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad argument #1 to 'close'"), "{e}");
    }

    #[test]
    fn pool_key_is_host_colon_port() {
        for port in [0u16, 7, 80, 6379, 65535] {
            assert_eq!(
                super::pool_key("127.0.0.1", port),
                format!("127.0.0.1:{port}")
            );
        }
    }
}
