//! Per-worker pools of idle upstream connections (nginx's `keepalive N`: up to N idle
//! connections per upstream per worker, closed after `keepalive_timeout` idle or
//! `keepalive_requests` requests). Expired idle connections are swept at most once a
//! second whenever the pool is used, so those to peers no longer picked (a peer removed
//! by `resolve`, marked down, or of a dropped upstream) close too. Idle times are kept on
//! the coarse clock (a few ms): a full clock read costs more than the rest of a lookup.

use super::body::ReqBody;
use super::h1;
use crate::clock;
use crate::upstream::Keepalive;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddr;

/// A multiplexed HTTP/2 connection (gRPC): shared by every request of the worker.
pub type H2Sender = hyper::client::conn::http2::SendRequest<ReqBody>;

/// Hashed with ahash: a lookup and a return per proxied request.
type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

/// Which pool: the upstream group, the peer, and whether the connection is TLS.
pub type Key = (u64, SocketAddr, bool);

/// A connection in use.
pub struct Conn {
    pub conn: h1::Conn,
    /// Requests sent on it so far, this one included.
    pub requests: u64,
}

struct Idle {
    conn: h1::Conn,
    /// When it has been idle for `keepalive_timeout` ([`clock::coarse_ms`]).
    until: u64,
    requests: u64,
}

/// How often expired idle connections are looked for, in milliseconds.
const SWEEP_EVERY: u64 = 1000;

thread_local! {
    static POOL: RefCell<HashMap<Key, VecDeque<Idle>>> = RefCell::new(HashMap::default());
    static H2: RefCell<HashMap<Key, H2Sender>> = RefCell::new(HashMap::default());
    static OPENED: Cell<u64> = const { Cell::new(0) };
    static REUSED: Cell<u64> = const { Cell::new(0) };
    static SWEPT: Cell<u64> = const { Cell::new(0) };
}

/// Closes the idle connections past their time (or closed by the peer), once a second.
fn sweep() {
    let now = clock::coarse_ms();
    if SWEPT.with(|s| now.saturating_sub(s.get()) < SWEEP_EVERY) {
        return;
    }
    SWEPT.with(|s| s.set(now));
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        p.retain(|_, q| {
            q.retain_mut(|i| i.until > now && i.conn.idle_usable());
            !q.is_empty()
        });
    });
    H2.with(|h| h.borrow_mut().retain(|_, s| !s.is_closed()));
}

/// An idle connection that is still open and fresh, most recently used first.
pub fn take(key: Key) -> Option<Conn> {
    sweep();
    loop {
        let mut idle = POOL.with(|p| p.borrow_mut().get_mut(&key).and_then(|q| q.pop_back()))?;
        if idle.until <= clock::coarse_ms() || !idle.conn.idle_usable() {
            continue;
        }
        REUSED.with(|c| c.set(c.get() + 1));
        return Some(Conn {
            conn: idle.conn,
            requests: idle.requests + 1,
        });
    }
}

/// This worker's HTTP/2 connection to a peer, while it is open.
pub fn take_h2(key: Key) -> Option<H2Sender> {
    H2.with(|h| {
        let mut h = h.borrow_mut();
        match h.get(&key) {
            Some(s) if !s.is_closed() => {
                REUSED.with(|c| c.set(c.get() + 1));
                Some(s.clone())
            }
            Some(_) => {
                h.remove(&key);
                None
            }
            None => None,
        }
    })
}

/// Keeps an HTTP/2 connection for the worker's next requests to the peer.
pub fn put_h2(key: Key, s: H2Sender) {
    H2.with(|h| {
        h.borrow_mut().insert(key, s);
    });
}

/// Counts a newly opened connection.
pub fn opened() {
    OPENED.with(|c| c.set(c.get() + 1));
}

/// Returns a connection whose response was read in full.
pub fn put(key: Key, conn: Conn, ka: &Keepalive) {
    sweep();
    if conn.requests >= ka.requests {
        return;
    }
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let q = p.entry(key).or_default();
        q.push_back(Idle {
            conn: conn.conn,
            until: clock::coarse_ms() + ka.timeout.as_millis() as u64,
            requests: conn.requests,
        });
        // Over the cap: the least recently used one goes (and closes).
        while q.len() > ka.max_idle {
            q.pop_front();
        }
    });
}

/// This worker's counts of upstream connections opened and reused.
pub fn stats() -> (u64, u64) {
    (OPENED.with(Cell::get), REUSED.with(Cell::get))
}
