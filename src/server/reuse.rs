//! `worker_connections`: the client connections one worker holds, and nginx's answer when
//! they run out. A new connection first makes room by closing the longest-idle kept-alive
//! ones (an eighth of those idle, 1 to 32, with nginx's warning "worker_connections are
//! not enough, reusing connections"); only when none is idle is it refused ("worker_connections
//! are not enough"). The limit counts client connections and listening sockets (nginx also
//! counts its upstream and cosocket connections).
//!
//! Each HTTP/1 connection has a `Slot` in its worker's list: marked idle while it waits for
//! a request with nothing read of it, with the waker that wakes it to close. A graceful
//! stop uses the same list: every idle connection is told to close, and a busy one closes
//! after its response (`stopping`), without a watch of its own to poll on every request.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::task::Waker;

/// One connection's standing in the worker's list.
#[derive(Default)]
pub(super) struct Slot {
    /// When it became idle (this worker's running count), 0 while busy.
    idle_since: Cell<u64>,
    /// Told to close to make room.
    close: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

thread_local! {
    static SLOTS: RefCell<Vec<Weak<Slot>>> = const { RefCell::new(Vec::new()) };
    static TICK: Cell<u64> = const { Cell::new(0) };
    static STOPPING: Cell<bool> = const { Cell::new(false) };
}

impl Slot {
    /// A new connection's slot, entered in this worker's list (ended connections' entries
    /// are swept out as the list grows).
    pub(super) fn enter() -> Rc<Slot> {
        let slot = Rc::new(Slot::default());
        SLOTS.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() >= 64 && s.len() == s.capacity() {
                s.retain(|w| w.strong_count() > 0);
            }
            s.push(Rc::downgrade(&slot));
        });
        slot
    }

    /// Waiting for a request, nothing of it read: may be closed to make room; `waker`
    /// wakes the connection to do so.
    pub(super) fn idle(&self, waker: &Waker) {
        if self.idle_since.get() == 0 {
            let t = TICK.with(|t| {
                t.set(t.get() + 1);
                t.get()
            });
            self.idle_since.set(t);
        }
        let mut w = self.waker.borrow_mut();
        if !w.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *w = Some(waker.clone());
        }
    }

    /// A request is under way: not to be closed for room.
    pub(super) fn busy(&self) {
        self.idle_since.set(0);
    }

    /// Told to close to make room for a new connection.
    pub(super) fn closing(&self) -> bool {
        self.close.get()
    }
}

/// A graceful stop began on this worker: its connections close once idle (nothing of a
/// next request read).
pub(super) fn stopping() -> bool {
    STOPPING.get()
}

/// Begins a graceful stop of this worker's connections: each is woken, and an idle one
/// closes now; one serving or reading a request closes after its response.
pub(super) fn stop_all() {
    STOPPING.set(true);
    let wakers: Vec<Waker> = SLOTS.with(|s| {
        s.borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .filter_map(|c| c.waker.borrow_mut().take())
            .collect()
    });
    // Woken outside the borrow: a waker may run nothing now, but is not held either.
    for w in wakers {
        w.wake();
    }
}

/// Makes room for a new connection by telling the longest-idle ones to close: false when
/// none is idle.
pub(super) fn make_room(limit: usize) -> bool {
    let mut idle: Vec<Rc<Slot>> = SLOTS.with(|s| {
        s.borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|c| c.idle_since.get() != 0 && !c.close.get())
            .collect()
    });
    if idle.is_empty() {
        return false;
    }
    crate::observe::log(
        crate::observe::Level::Warn,
        &format!("{limit} worker_connections are not enough, reusing connections"),
        None,
    );
    let n = (idle.len() / 8).clamp(1, 32);
    // The n longest idle first (no full sort: only which n matters).
    idle.select_nth_unstable_by_key(n - 1, |c| c.idle_since.get());
    for c in &idle[..n] {
        c.close.set(true);
        if let Some(w) = c.waker.borrow_mut().take() {
            w.wake();
        }
    }
    true
}
