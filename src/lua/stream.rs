//! A content handler whose output streams: after its first `ngx.flush` (or
//! `ngx.send_headers`) the status line and headers are sent, and the rest of the handler
//! runs as the response body is read, each piece of output going out as it is produced.

use super::req::{ReqState, Scoped};
use crate::observe::Level;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub struct LuaStream {
    /// The handler's state; its `ctx` points into the request context the response body
    /// (`server::body::OutBody`) owns, boxed, so it stays put while the body is polled.
    state: Box<ReqState>,
    fut: Pin<Box<mlua::thread::AsyncThread<()>>>,
    /// Output not handed out yet.
    pending: Vec<u8>,
    /// The entry thread's result while light threads finish.
    entry: Option<mlua::Result<()>>,
    done: bool,
    /// Data was handed out at a flush point: the next poll lets the connection write it
    /// (returns pending once) before the handler resumes, so `ngx.flush` means sent.
    flushed: bool,
}

impl LuaStream {
    pub fn new(
        state: Box<ReqState>,
        fut: Pin<Box<mlua::thread::AsyncThread<()>>>,
        first: Vec<u8>,
    ) -> Self {
        LuaStream {
            state,
            fut,
            pending: first,
            entry: None,
            done: false,
            flushed: true,
        }
    }

    /// The handler ended: `ngx.ctx` goes back to the request for the log phase.
    fn finish(&mut self) {
        self.done = true;
        // A raw request socket ends with its request (nginx closes the connection).
        if let Some(io) = self.state.raw_io.take() {
            io.borrow_mut().take();
        }
        if let Some(key) = self.state.ctx_table.take() {
            // SAFETY: see `state`; the body is being polled, so the context is alive.
            let ctx = unsafe { &mut *self.state.ctx };
            super::vm::put_ctx_table(ctx, key);
        }
    }

    fn log(&self, msg: &str) {
        // SAFETY: as in `finish`.
        let ctx = unsafe { &*self.state.ctx };
        ctx.log(Level::Error, msg);
    }
}

impl hyper::body::Body for LuaStream {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        loop {
            if this.flushed && this.pending.is_empty() && !this.done {
                this.flushed = false;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if !this.pending.is_empty() {
                let data = Bytes::from(std::mem::take(&mut this.pending));
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            let r = {
                let mut scoped = Scoped {
                    state: &mut this.state,
                    fut: this.fut.as_mut(),
                    done: this.entry.take(),
                };
                let r = Pin::new(&mut scoped).poll(cx);
                this.entry = scoped.done.take();
                r
            };
            this.pending = std::mem::take(&mut this.state.out);
            match r {
                Poll::Ready(Some(Ok(()))) => this.finish(),
                Poll::Ready(Some(Err(e))) => {
                    let msg = super::vm::lua_message(&e);
                    this.log(&format!("lua entry thread aborted: runtime error: {msg}"));
                    this.finish();
                    // The status was sent: the response can only be cut short.
                    return Poll::Ready(Some(Err(std::io::Error::other(msg))));
                }
                Poll::Ready(None) => {
                    if this.state.flush {
                        // A flush point: what was said goes out, then the handler resumes.
                        this.state.flush = false;
                        this.flushed = true;
                        continue;
                    }
                    // ngx.exit (or an exec too late to redirect) ends the handler.
                    if this.state.exec.is_some() {
                        this.log("attempt to call ngx.exec after sending out response headers");
                    }
                    this.finish();
                }
                Poll::Pending if this.pending.is_empty() => return Poll::Pending,
                // Output produced while waiting (e.g. before a cosocket call) goes now.
                Poll::Pending => {}
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.pending.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
