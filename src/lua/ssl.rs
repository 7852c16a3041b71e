//! `require "ngx.ssl"` (lua-resty-core's names, results and error words) and running an
//! `ssl_certificate_by_lua*` handler in the middle of a TLS handshake.
//!
//! A handler runs as a coroutine with no request (phase `ssl_cert`, like a timer's), so it
//! may yield (cosockets, `ngx.sleep`, shared dicts) while request APIs refuse. While it is
//! resumed, [`HANDSHAKE`] points at its handshake, which is how `ngx.ssl` finds it. In a
//! request over TLS the functions that read facts (`server_name`, `raw_server_addr`,
//! `get_tls1_version`, ...) answer from the connection.

use super::api::{nil_err, rt, LResult};
use super::req::{with_req, ReqState, Scoped};
use crate::observe::Level;
use crate::pipeline::Phase;
use crate::tls::dynamic::{self, Key, TLS1_2_VERSION, TLS1_3_VERSION};
use crate::tls::CertRequest;
use mlua::{Lua, MultiValue, Table, UserData, Value};
use rustls::pki_types::CertificateDer;
use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

thread_local! {
    /// The handshake of the handler being resumed on this thread.
    static HANDSHAKE: RefCell<Option<Rc<RefCell<CertRequest>>>> = const { RefCell::new(None) };
}

/// A certificate chain from `parse_pem_cert`/`parse_der_cert` (a cdata in OpenResty).
struct CertChain(Vec<CertificateDer<'static>>);
impl UserData for CertChain {}

/// A private key from `parse_pem_priv_key`/`parse_der_priv_key`.
struct PrivKey(Key);
impl UserData for PrivKey {}

/// Runs a handler's coroutine for one handshake, recording in `req` what it sets. False
/// when the handshake must fail: the handler raised an error (logged with nginx's words)
/// or ended with `ngx.exit(ngx.ERROR)` or a code of 300 and up.
pub(super) async fn run(thread: mlua::Thread, req: &mut CertRequest) -> bool {
    let shared = Rc::new(RefCell::new(std::mem::take(req)));
    let fut = match thread.into_async::<()>(()) {
        Ok(f) => f,
        Err(e) => {
            let msg = format!(
                "failed to start a Lua thread: {e}{}",
                context(&shared.borrow())
            );
            crate::observe::log(Level::Error, &msg, None);
            *req = shared.take();
            return false;
        }
    };
    let mut state = ReqState::new(Phase::SslCert, std::ptr::null_mut(), None);
    let mut fut = std::pin::pin!(fut);
    let scoped = std::pin::pin!(Scoped {
        state: &mut state,
        fut: fut.as_mut(),
        done: None,
    });
    let result = InHandshake {
        req: shared.clone(),
        inner: scoped,
    }
    .await;
    *req = shared.take();
    if let Some(Err(e)) = result {
        let msg = format!(
            "lua entry thread aborted: runtime error: {}{}",
            super::vm::lua_message(&e),
            context(req)
        );
        crate::observe::log(Level::Error, &msg, None);
        return false;
    }
    // ngx.exit: OK and 200s go on; ERROR and special responses fail the handshake.
    !matches!(state.exit, Some(c) if c == -1 || c >= 300)
}

/// Polls the handler with [`HANDSHAKE`] pointing at its handshake.
struct InHandshake<F> {
    req: Rc<RefCell<CertRequest>>,
    inner: F,
}

/// Restores the previous [`HANDSHAKE`] when a poll ends, also when it unwinds.
struct Restore(Option<Rc<RefCell<CertRequest>>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let prev = self.0.take();
        HANDSHAKE.with(|h| *h.borrow_mut() = prev);
    }
}

impl<F: Future + Unpin> Future for InHandshake<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let _restore = Restore(HANDSHAKE.with(|h| h.replace(Some(this.req.clone()))));
        Pin::new(&mut this.inner).poll(cx)
    }
}

/// nginx's tail of error log lines written during a handshake's handler.
fn context(req: &CertRequest) -> String {
    format!(
        ", context: ssl_certificate_by_lua*, client: {}, server: {}",
        req.remote.ip(),
        req.listen
    )
}

/// [`context`] of the running handler's handshake; empty elsewhere.
pub(super) fn log_context() -> String {
    HANDSHAKE.with(|h| {
        h.borrow()
            .as_ref()
            .and_then(|r| r.try_borrow().ok().map(|r| context(&r)))
            .unwrap_or_default()
    })
}

/// Where an `ngx.ssl` call is made.
enum Conn {
    Handshake(Rc<RefCell<CertRequest>>),
    /// A request over TLS: SNI, protocol version, addresses.
    Tls(Option<String>, u16, SocketAddr, SocketAddr),
    /// A request over plain TCP.
    Plain,
}

/// The running handshake or request; outside both, lua-resty-core's `no request found`.
fn conn() -> LResult<Conn> {
    if let Some(h) = HANDSHAKE.with(|h| h.borrow().clone()) {
        return Ok(Conn::Handshake(h));
    }
    with_req(|_, ctx| {
        let c = &ctx.conn;
        Ok(match &c.tls {
            Some(t) => {
                let v = if t.protocol == "TLSv1.3" {
                    TLS1_3_VERSION
                } else {
                    TLS1_2_VERSION
                };
                Conn::Tls(t.server_name.clone(), v, c.local, c.remote)
            }
            None => Conn::Plain,
        })
    })
    .map_err(|_| rt("no request found"))
}

fn values(v: Vec<Value>) -> LResult<MultiValue> {
    Ok(MultiValue::from_vec(v))
}

fn ok() -> LResult<MultiValue> {
    values(vec![Value::Boolean(true)])
}

/// A string argument, or `bad argument #n to 'f' (string expected, got T)`.
fn bytes(v: &Value, n: usize, f: &str) -> LResult<Vec<u8>> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        other => Err(rt(format!(
            "bad argument #{n} to '{f}' (string expected, got {})",
            other.type_name()
        ))),
    }
}

/// Runs `f` on the handshake being set up; elsewhere `nil, err` (a finished handshake
/// cannot change its certificate).
fn with_handshake(
    lua: &Lua,
    f: impl FnOnce(&mut CertRequest) -> Result<(), &'static str>,
) -> LResult<MultiValue> {
    match conn()? {
        Conn::Handshake(h) => match f(&mut h.borrow_mut()) {
            Ok(()) => ok(),
            Err(e) => nil_err(lua, e),
        },
        Conn::Tls(..) => nil_err(lua, "no handshake in progress"),
        Conn::Plain => nil_err(lua, "bad request"),
    }
}

/// An address as lua-resty-core's `raw_*_addr` return it: the raw bytes and the family.
fn raw_addr(lua: &Lua, a: SocketAddr) -> LResult<MultiValue> {
    let (bytes, kind) = match a {
        SocketAddr::V4(v) => (v.ip().octets().to_vec(), "inet"),
        SocketAddr::V6(v) => (v.ip().octets().to_vec(), "inet6"),
    };
    values(vec![
        Value::String(lua.create_string(bytes)?),
        Value::String(lua.create_string(kind)?),
    ])
}

/// `nil, nil, err` (the `raw_*_addr` failure shape).
fn addr_err(lua: &Lua, e: &str) -> LResult<MultiValue> {
    values(vec![
        Value::Nil,
        Value::Nil,
        Value::String(lua.create_string(e)?),
    ])
}

/// Installs `ngx.ssl` into `package.loaded`.
pub fn install(lua: &Lua) -> LResult<()> {
    let m = lua.create_table()?;
    for (k, v) in [
        ("SSL3_VERSION", 0x0300),
        ("TLS1_VERSION", 0x0301),
        ("TLS1_1_VERSION", 0x0302),
        ("TLS1_2_VERSION", TLS1_2_VERSION as i64),
        ("TLS1_3_VERSION", TLS1_3_VERSION as i64),
    ] {
        m.set(k, v)?;
    }
    facts(lua, &m)?;
    setters(lua, &m)?;
    conversions(lua, &m)?;
    let stubs: Table = lua.named_registry_value(super::api::UNSUPPORTED_APIS)?;
    for name in [
        "verify_client",
        "get_client_random",
        "export_keying_material",
        "export_keying_material_early",
        "get_req_ssl_pointer",
    ] {
        let full = format!("ngx.ssl.{name}");
        stubs.set(full.as_str(), true)?;
        m.set(
            name,
            lua.create_function(move |_, _: MultiValue| -> LResult<()> {
                Err(rt(format!("API not supported by openclaw: {full}")))
            })?,
        )?;
    }
    let loaded: Table = lua.globals().get::<Table>("package")?.get("loaded")?;
    loaded.set("ngx.ssl", m)?;
    Ok(())
}

/// What the handshake or connection is: SNI, addresses, protocol version.
fn facts(lua: &Lua, m: &Table) -> LResult<()> {
    m.set(
        "server_name",
        lua.create_function(|lua, ()| {
            let name = match conn()? {
                Conn::Handshake(h) => h.borrow().server_name.clone(),
                Conn::Tls(sni, ..) => sni,
                Conn::Plain => return nil_err(lua, "bad request"),
            };
            match name {
                Some(n) => values(vec![Value::String(lua.create_string(n)?)]),
                None => values(vec![Value::Nil]),
            }
        })?,
    )?;
    for (name, server) in [("raw_server_addr", true), ("raw_client_addr", false)] {
        m.set(
            name,
            lua.create_function(move |lua, ()| {
                let (local, remote) = match conn()? {
                    Conn::Handshake(h) => (h.borrow().local, h.borrow().remote),
                    Conn::Tls(_, _, local, remote) => (local, remote),
                    Conn::Plain => return addr_err(lua, "bad request"),
                };
                raw_addr(lua, if server { local } else { remote })
            })?,
        )?;
    }
    m.set(
        "server_port",
        lua.create_function(|lua, ()| {
            let port = match conn()? {
                Conn::Handshake(h) => h.borrow().local.port(),
                Conn::Tls(_, _, local, _) => local.port(),
                Conn::Plain => return nil_err(lua, "bad request"),
            };
            values(vec![Value::Integer(port as _)])
        })?,
    )?;
    m.set(
        "get_tls1_version",
        lua.create_function(|lua, ()| match version()? {
            Some(v) => values(vec![Value::Integer(v as _)]),
            None => nil_err(lua, "bad request"),
        })?,
    )?;
    m.set(
        "get_tls1_version_str",
        lua.create_function(|lua, ()| match version()? {
            Some(TLS1_3_VERSION) => values(vec![Value::String(lua.create_string("TLSv1.3")?)]),
            Some(TLS1_2_VERSION) => values(vec![Value::String(lua.create_string("TLSv1.2")?)]),
            Some(_) => nil_err(lua, "unknown version"),
            None => nil_err(lua, "bad request"),
        })?,
    )?;
    Ok(())
}

/// The protocol version (None on a plain connection).
fn version() -> LResult<Option<u16>> {
    Ok(match conn()? {
        Conn::Handshake(h) => Some(h.borrow().version),
        Conn::Tls(_, v, ..) => Some(v),
        Conn::Plain => None,
    })
}

/// What the handshake serves: `clear_certs`, `set_der_cert`, `set_der_priv_key`,
/// `set_cert`, `set_priv_key`.
fn setters(lua: &Lua, m: &Table) -> LResult<()> {
    m.set(
        "clear_certs",
        lua.create_function(|lua, ()| {
            with_handshake(lua, |h| {
                h.cleared = true;
                h.chain = None;
                h.key = None;
                Ok(())
            })
        })?,
    )?;
    m.set(
        "set_der_cert",
        lua.create_function(|lua, der: Value| {
            let der = bytes(&der, 1, "set_der_cert")?;
            with_handshake(lua, |h| {
                h.chain = Some(dynamic::certs_from_der(&der)?);
                Ok(())
            })
        })?,
    )?;
    m.set(
        "set_der_priv_key",
        lua.create_function(|lua, der: Value| {
            let der = bytes(&der, 1, "set_der_priv_key")?;
            with_handshake(lua, |h| h.set_key(dynamic::key_from_der(&der)?))
        })?,
    )?;
    m.set(
        "set_cert",
        lua.create_function(|lua, chain: Value| {
            let chain = parsed(&chain, "set_cert", |c: &CertChain| c.0.clone())?;
            with_handshake(lua, |h| {
                h.chain = Some(chain);
                Ok(())
            })
        })?,
    )?;
    m.set(
        "set_priv_key",
        lua.create_function(|lua, key: Value| {
            let key = parsed(&key, "set_priv_key", |k: &PrivKey| k.0.clone())?;
            with_handshake(lua, |h| h.set_key(key))
        })?,
    )?;
    Ok(())
}

/// What a `parse_*` function made (a cdata in OpenResty), taken by `get`; anything else is
/// `bad argument #1 to 'f' (cdata expected, got T)`.
fn parsed<T: 'static, R>(v: &Value, f: &str, get: impl FnOnce(&T) -> R) -> LResult<R> {
    match v {
        Value::UserData(u) => u.borrow::<T>().ok().map(|t| get(&t)),
        _ => None,
    }
    .ok_or_else(|| {
        rt(format!(
            "bad argument #1 to '{f}' (cdata expected, got {})",
            v.type_name()
        ))
    })
}

/// PEM to DER and parsed objects: `cert_pem_to_der`, `priv_key_pem_to_der`,
/// `parse_pem_cert`, `parse_pem_priv_key`, `parse_der_cert`, `parse_der_priv_key`.
fn conversions(lua: &Lua, m: &Table) -> LResult<()> {
    m.set(
        "cert_pem_to_der",
        lua.create_function(|lua, pem: Value| {
            let pem = bytes(&pem, 1, "cert_pem_to_der")?;
            match dynamic::pem_certs(&pem) {
                Ok(certs) => {
                    let der: Vec<u8> = certs.iter().flat_map(|c| c.iter().copied()).collect();
                    values(vec![Value::String(lua.create_string(der)?)])
                }
                Err(e) => nil_err(lua, e),
            }
        })?,
    )?;
    m.set(
        "priv_key_pem_to_der",
        lua.create_function(|lua, (pem, _pass): (Value, Value)| {
            let pem = bytes(&pem, 1, "priv_key_pem_to_der")?;
            match dynamic::pem_key_der(&pem) {
                Ok(der) => values(vec![Value::String(lua.create_string(der)?)]),
                Err(e) => nil_err(lua, e),
            }
        })?,
    )?;
    for (name, pem) in [("parse_pem_cert", true), ("parse_der_cert", false)] {
        m.set(
            name,
            lua.create_function(move |lua, data: Value| {
                let data = bytes(&data, 1, name)?;
                let chain = if pem {
                    dynamic::pem_certs(&data)
                } else {
                    dynamic::certs_from_der(&data)
                };
                match chain {
                    Ok(c) => values(vec![Value::UserData(lua.create_userdata(CertChain(c))?)]),
                    Err(e) => nil_err(lua, e),
                }
            })?,
        )?;
    }
    for (name, pem) in [("parse_pem_priv_key", true), ("parse_der_priv_key", false)] {
        m.set(
            name,
            lua.create_function(move |lua, data: Value| {
                let data = bytes(&data, 1, name)?;
                let key = if pem {
                    dynamic::pem_key_der(&data).and_then(|der| {
                        dynamic::key_from_der(&der).map_err(|_| "PEM_read_bio_PrivateKey() failed")
                    })
                } else {
                    dynamic::key_from_der(&data)
                };
                match key {
                    Ok(k) => values(vec![Value::UserData(lua.create_userdata(PrivKey(k))?)]),
                    Err(e) => nil_err(lua, e),
                }
            })?,
        )?;
    }
    Ok(())
}
