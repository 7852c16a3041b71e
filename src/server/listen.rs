//! Listen sockets: one SO_REUSEPORT socket per worker per address, kept across reloads.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::observe::{log, Level};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};

/// The sockets bound for one configured address.
pub struct Bound {
    /// The address actually bound (differs from the configured one for port 0).
    pub actual: SocketAddr,
    /// One socket per worker.
    pub sockets: Vec<TcpListener>,
}

/// All bound addresses, keyed by the configured address.
#[derive(Default)]
pub struct Listeners {
    pub bound: HashMap<SocketAddr, Bound>,
}

fn os_err(what: String, e: &std::io::Error) -> Error {
    Error::config(format!(
        "{what} failed ({}: {})",
        e.raw_os_error().unwrap_or(0),
        crate::error::strerror(e)
    ))
}

fn socket(addr: SocketAddr, reuseport: bool, backlog: i32) -> std::io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if reuseport {
        s.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(backlog)?;
    Ok(s.into())
}

impl Listeners {
    /// Binds what `config` needs and is not bound yet; returns the newly bound keys.
    /// Addresses no longer configured are returned in the second list (the caller tells
    /// workers to drop them, then calls [`Listeners::forget`]).
    pub fn sync(
        &mut self,
        config: &Config,
        workers: usize,
    ) -> Result<(Vec<SocketAddr>, Vec<SocketAddr>)> {
        let wanted: Vec<_> = config
            .http
            .as_ref()
            .map(|h| h.sockets.clone())
            .unwrap_or_default();
        let mut added = vec![];
        let mut fresh: HashMap<SocketAddr, Bound> = HashMap::new();
        for ls in &wanted {
            if self.bound.contains_key(&ls.addr) {
                continue;
            }
            // Refuse an address someone else holds, as nginx's plain bind() would: a
            // SO_REUSEPORT bind alone could silently share it with another process.
            if ls.addr.port() != 0 {
                if let Err(e) = socket(ls.addr, false, 1) {
                    return Err(os_err(format!("bind() to {}", ls.addr), &e));
                }
            }
            let mut sockets = vec![];
            let mut actual = ls.addr;
            for _ in 0..workers {
                let s = socket(actual, true, ls.backlog)
                    .map_err(|e| os_err(format!("bind() to {}", ls.addr), &e))?;
                if actual.port() == 0 {
                    actual = s
                        .local_addr()
                        .map_err(|e| os_err("getsockname()".into(), &e))?;
                    log(
                        Level::Notice,
                        &format!(
                            "using the ephemeral port {actual} for \"listen {}\"",
                            ls.addr
                        ),
                        None,
                    );
                }
                sockets.push(s);
            }
            fresh.insert(ls.addr, Bound { actual, sockets });
            added.push(ls.addr);
        }
        let removed: Vec<SocketAddr> = self
            .bound
            .keys()
            .filter(|k| !wanted.iter().any(|w| w.addr == **k))
            .copied()
            .collect();
        self.bound.extend(fresh);
        Ok((added, removed))
    }

    pub fn forget(&mut self, addrs: &[SocketAddr]) {
        for a in addrs {
            self.bound.remove(a);
        }
    }
}
