//! The request a Lua coroutine is serving, reachable from `ngx.*` functions while the
//! coroutine runs.

use crate::pipeline::{Phase, RequestCtx};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Per-run state of a handler: the request, what Lua produced, how it ended.
pub struct ReqState {
    pub phase: Phase,
    pub ctx: *mut RequestCtx,
    pub out: Vec<u8>,
    pub status: Option<u16>,
    pub headers: crate::pipeline::HeaderList,
    /// Set by `ngx.exit`: the coroutine is abandoned and this code decides the outcome.
    pub exit: Option<i64>,
    /// `ngx.ctx` for this request, created on first use.
    pub ctx_table: Option<mlua::RegistryKey>,
    /// Output started: in OpenResty the status line and headers are then on the wire.
    pub sent: bool,
    /// Set by `ngx.exec`: the internal redirect target.
    pub exec: Option<String>,
    /// `ngx.arg` (set_by_lua arguments; body_filter's `[1]` chunk).
    pub args: Vec<String>,
    /// body_filter's data chunk (`ngx.arg[1]`) and eof flag (`ngx.arg[2]`).
    pub chunk: Option<(Vec<u8>, bool)>,
    /// Light threads (`ngx.thread.spawn`) still running, polled with the entry thread.
    pub threads: Vec<LightThread>,
    /// `balancer_by_lua*`: what `ngx.balancer` sets.
    pub balancer: Option<crate::pipeline::BalancerState>,
    /// `ngx.flush`/`ngx.send_headers` in a content handler: send what is there now (the
    /// response then streams, see `stream.rs`).
    pub flush: bool,
    /// `ngx.on_abort`'s callback, as a coroutine made when it was registered.
    pub on_abort: Option<mlua::Thread>,
    /// The client's close was acted on (callback started or request ended).
    pub abort_seen: bool,
    /// `ngx.req.socket(true)` handed out the connection: output functions refuse.
    pub raw_socket: bool,
    /// That connection, closed when the handler ends.
    pub raw_io: Option<super::sockstream::RawIo>,
}

/// A spawned light thread: its coroutine future and where its result goes.
pub struct LightThread {
    pub id: u64,
    pub fut: Pin<Box<dyn Future<Output = mlua::Result<mlua::MultiValue>>>>,
    pub slot: std::rc::Rc<std::cell::RefCell<Option<mlua::Result<mlua::MultiValue>>>>,
}

impl LightThread {
    /// Polls once; true when finished (result stored).
    pub fn poll_once(&mut self, cx: &mut Context<'_>) -> bool {
        match self.fut.as_mut().poll(cx) {
            Poll::Ready(r) => {
                *self.slot.borrow_mut() = Some(r);
                true
            }
            Poll::Pending => false,
        }
    }
}

impl ReqState {
    /// Whether `ngx.say`/`ngx.print` may write now: a request's handler (not a timer's),
    /// in a phase with output, the connection not taken by `ngx.req.socket(true)`. The
    /// full functions raise or answer `nil, err` for each refusal; the FFI fast path
    /// leaves every refusal to them.
    pub fn may_output(&self) -> bool {
        !self.ctx.is_null() && !self.raw_socket && super::api::OUTPUT_PHASES.contains(self.phase)
    }

    /// Ends one `ngx.say`/`ngx.print` whose data is in `out`: the newline, and the
    /// response counts as started.
    pub fn end_output(&mut self, newline: bool) {
        if newline {
            self.out.push(b'\n');
        }
        self.sent = true;
    }

    /// `lua_check_client_abort on` and the client has closed: start `ngx.on_abort`'s
    /// callback as a light thread, or end the request with 499 when there is none.
    fn notice_abort(&mut self) {
        if self.ctx.is_null() {
            return;
        }
        // SAFETY: called from `Scoped::poll`, which holds the state and its request.
        let ctx = unsafe { &*self.ctx };
        let conn = &ctx.conn;
        if !conn.client_closed.get() || conn.abort_mode.get() != crate::pipeline::AbortMode::Notify
        {
            return;
        }
        self.abort_seen = true;
        ctx.log(
            crate::observe::Level::Info,
            "client prematurely closed connection",
        );
        let Some(t) = self.on_abort.take() else {
            self.exit = Some(499);
            return;
        };
        match t.into_async::<mlua::MultiValue>(()) {
            Ok(fut) => self.threads.push(LightThread {
                id: 0,
                fut: Box::pin(fut),
                slot: Default::default(),
            }),
            Err(_) => self.exit = Some(499),
        }
    }

    /// A fresh state for `phase` over `ctx` (null for timers), carrying `ngx.ctx`.
    pub fn new(
        phase: Phase,
        ctx: *mut RequestCtx,
        ctx_table: Option<mlua::RegistryKey>,
    ) -> ReqState {
        ReqState {
            phase,
            ctx,
            out: Vec::new(),
            status: None,
            headers: crate::pipeline::HeaderList::new(),
            exit: None,
            ctx_table,
            sent: false,
            exec: None,
            args: Vec::new(),
            chunk: None,
            threads: Vec::new(),
            balancer: None,
            flush: false,
            on_abort: None,
            abort_seen: false,
            raw_socket: false,
            raw_io: None,
        }
    }
}

thread_local! {
    /// The state of the coroutine being resumed on this thread, or null.
    pub static CURRENT: Cell<*mut ReqState> = const { Cell::new(std::ptr::null_mut()) };
    /// The phase of a chunk running outside any request (init, init_worker).
    pub static BARE_PHASE: Cell<Option<Phase>> = const { Cell::new(None) };
    /// The waker of the task polling the coroutine in `Scoped::poll`, or null: what a
    /// cosocket's fast path registers with before its Lua side yields (`socket::fast`).
    static WAKER: Cell<*const std::task::Waker> = const { Cell::new(std::ptr::null()) };
}

/// Calls `f` with the waker of the task resuming the current coroutine; None outside
/// `Scoped::poll` (a coroutine some other code resumes must not wait this way).
pub fn with_waker<R>(f: impl FnOnce(&std::task::Waker) -> R) -> Option<R> {
    let p = WAKER.with(|w| w.get());
    // SAFETY: non-null only while `Scoped::poll` runs on this thread, whose `Context`
    // (and so the waker) outlives the poll; the guard clears it before the poll returns.
    (!p.is_null()).then(|| f(unsafe { &*p }))
}

/// Points WAKER at a poll's waker and restores the previous one on drop.
struct WakerGuard(*const std::task::Waker);

impl WakerGuard {
    fn set(w: &std::task::Waker) -> WakerGuard {
        WakerGuard(WAKER.with(|c| c.replace(w)))
    }
}

impl Drop for WakerGuard {
    fn drop(&mut self) {
        WAKER.with(|c| c.set(self.0));
    }
}

/// Points CURRENT at a state for its lifetime and restores the previous value on drop,
/// also when a Lua call unwinds with a panic, so CURRENT never dangles.
pub struct CurrentGuard {
    prev: *mut ReqState,
}

impl CurrentGuard {
    pub fn set(state: *mut ReqState) -> CurrentGuard {
        CurrentGuard {
            prev: CURRENT.with(|c| c.replace(state)),
        }
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// The same for the phase of chunks run outside requests.
pub struct BarePhaseGuard {
    prev: Option<Phase>,
}

impl BarePhaseGuard {
    pub fn set(phase: Phase) -> BarePhaseGuard {
        BarePhaseGuard {
            prev: BARE_PHASE.with(|b| b.replace(Some(phase))),
        }
    }
}

impl Drop for BarePhaseGuard {
    fn drop(&mut self) {
        BARE_PHASE.with(|b| b.set(self.prev));
    }
}

/// Calls `f` with the current request, or fails like OpenResty outside a request.
pub fn with_req<R>(
    f: impl FnOnce(&mut ReqState, &mut RequestCtx) -> mlua::Result<R>,
) -> mlua::Result<R> {
    let p = CURRENT.with(|c| c.get());
    if p.is_null() {
        return Err(mlua::Error::RuntimeError(
            match BARE_PHASE.with(|b| b.get()) {
                Some(Phase::Init) => "API disabled in the context of init_by_lua*".into(),
                Some(Phase::InitWorker) => {
                    "API disabled in the context of init_worker_by_lua*".into()
                }
                _ => super::tools::no_request(),
            },
        ));
    }
    // SAFETY: CURRENT is non-null only while `Scoped::poll` runs, and `Scoped` borrows both
    // the state and (through it) the request context mutably for its whole life; Lua API
    // calls happen only inside that poll, on this thread, one at a time. Timer and
    // ssl_certificate_by_lua coroutines have a state but no request (a null context).
    unsafe {
        let st = &mut *p;
        if st.ctx.is_null() {
            return Err(mlua::Error::RuntimeError(format!(
                "API disabled in the context of {}",
                super::api::phase_context(st.phase)
            )));
        }
        let ctx = &mut *st.ctx;
        f(st, ctx)
    }
}

/// Calls `f` with the running coroutine's state (a request's or a timer's).
pub fn with_state<R>(f: impl FnOnce(&mut ReqState) -> mlua::Result<R>) -> mlua::Result<R> {
    let p = CURRENT.with(|c| c.get());
    if p.is_null() {
        return Err(mlua::Error::RuntimeError(super::tools::no_request()));
    }
    // SAFETY: as in `with_req`; only the state is touched.
    unsafe { f(&mut *p) }
}

/// Polls a coroutine future with CURRENT pointing at its request; finishes early once
/// `ngx.exit` was called (the coroutine then waits forever and is dropped).
pub struct Scoped<'a, F: Future> {
    pub state: &'a mut ReqState,
    pub fut: Pin<&'a mut F>,
    /// The entry thread's result, kept while light threads finish.
    pub done: Option<F::Output>,
}

impl<F: Future> Future for Scoped<'_, F>
where
    F::Output: Unpin,
{
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let ptr: *mut ReqState = this.state;
        let guard = CurrentGuard::set(ptr);
        let waker_guard = WakerGuard::set(cx.waker());
        if !this.state.abort_seen {
            this.state.notice_abort();
        }
        let r = match this.done.take() {
            Some(v) => Poll::Ready(v),
            None => this.fut.as_mut().poll(cx),
        };
        // Light threads run alongside; one finishing may unblock ngx.thread.wait.
        // Taken out while polled: a thread may spawn more (they land in state.threads).
        let mut finished_any = false;
        let running = std::mem::take(&mut this.state.threads);
        let mut still = Vec::with_capacity(running.len());
        for mut t in running {
            if t.poll_once(cx) {
                finished_any = true;
                if let (Some(Err(e)), false) = (&*t.slot.borrow(), this.state.ctx.is_null()) {
                    // SAFETY: as in `notice_abort`.
                    let ctx = unsafe { &*this.state.ctx };
                    ctx.log(
                        crate::observe::Level::Error,
                        &format!(
                            "lua user thread aborted: runtime error: {}",
                            super::vm::lua_message(e)
                        ),
                    );
                }
            } else {
                still.push(t);
            }
        }
        let spawned_meanwhile = std::mem::take(&mut this.state.threads);
        still.extend(spawned_meanwhile);
        this.state.threads = still;
        drop(waker_guard);
        drop(guard);
        if finished_any {
            cx.waker().wake_by_ref();
        }
        match r {
            Poll::Ready(v) => {
                // The request ends when its light threads have too (unless it exits).
                if this.state.threads.is_empty() || this.state.exit.is_some() {
                    Poll::Ready(Some(v))
                } else {
                    this.done = Some(v);
                    Poll::Pending
                }
            }
            Poll::Pending
                if this.state.exit.is_some() || this.state.exec.is_some() || this.state.flush =>
            {
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
