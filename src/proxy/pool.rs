//! Per-worker pools of idle upstream connections (nginx's `keepalive N`: up to N idle
//! connections per upstream per worker, closed after `keepalive_timeout` idle or
//! `keepalive_requests` requests). Expired idle connections are swept at most once a
//! second whenever the pool is used, so those to peers no longer picked (a peer removed
//! by `resolve`, marked down, or of a dropped upstream) close too.

use super::body::ReqBody;
use crate::upstream::Keepalive;
use hyper::client::conn::http1::SendRequest;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

pub type Sender = SendRequest<ReqBody>;
/// A multiplexed HTTP/2 connection (gRPC): shared by every request of the worker.
pub type H2Sender = hyper::client::conn::http2::SendRequest<ReqBody>;

/// Which pool: the upstream group, the peer, and whether the connection is TLS.
pub type Key = (u64, SocketAddr, bool);

/// A connection in use.
pub struct Conn {
    pub sender: Sender,
    /// Requests sent on it so far, this one included.
    pub requests: u64,
}

struct Idle {
    sender: Sender,
    /// When it has been idle for `keepalive_timeout`.
    until: Instant,
    requests: u64,
}

/// How often expired idle connections are looked for.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

thread_local! {
    static POOL: RefCell<HashMap<Key, VecDeque<Idle>>> = RefCell::new(HashMap::new());
    static H2: RefCell<HashMap<Key, H2Sender>> = RefCell::new(HashMap::new());
    static OPENED: Cell<u64> = const { Cell::new(0) };
    static REUSED: Cell<u64> = const { Cell::new(0) };
    static SWEPT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Closes the idle connections past their time (or closed by the peer), once a second.
fn sweep() {
    let now = Instant::now();
    if SWEPT.with(|s| s.get().is_some_and(|t| now.duration_since(t) < SWEEP_EVERY)) {
        return;
    }
    SWEPT.with(|s| s.set(Some(now)));
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        p.retain(|_, q| {
            q.retain(|i| i.until > now && !i.sender.is_closed());
            !q.is_empty()
        });
    });
    H2.with(|h| h.borrow_mut().retain(|_, s| !s.is_closed()));
}

/// An idle connection that is still open and fresh, most recently used first.
pub async fn take(key: Key) -> Option<Conn> {
    sweep();
    loop {
        let idle = POOL.with(|p| p.borrow_mut().get_mut(&key).and_then(|q| q.pop_back()))?;
        if idle.sender.is_closed() || idle.until <= Instant::now() {
            continue;
        }
        let mut sender = idle.sender;
        if sender.ready().await.is_err() {
            continue;
        }
        REUSED.with(|c| c.set(c.get() + 1));
        return Some(Conn {
            sender,
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
    if conn.requests >= ka.requests || conn.sender.is_closed() {
        return;
    }
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let q = p.entry(key).or_default();
        q.push_back(Idle {
            sender: conn.sender,
            until: Instant::now() + ka.timeout,
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
