//! Bodies crossing the proxy: the request body sent upstream and the upstream response
//! body streamed to the client (with the read timeout and the pool return).

use super::h1;
use super::pool::{self, Key};
use crate::observe::Level;
use crate::pipeline::LogContext;
use crate::pipeline::UpstreamLog;
use crate::upstream::Keepalive;
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::time::Sleep;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body sent upstream.
pub enum ReqBody {
    Empty,
    Full(Option<Bytes>),
    /// The client's body, streamed as it arrives (`proxy_request_buffering off`).
    Stream(crate::pipeline::ReqBody),
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ReqBody::Empty => Poll::Ready(None),
            ReqBody::Full(b) => Poll::Ready(
                b.take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            ReqBody::Stream(s) => Pin::new(s).poll_frame(cx).map_err(|e| e.into()),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Empty => true,
            ReqBody::Full(b) => b.as_ref().is_none_or(|b| b.is_empty()),
            ReqBody::Stream(s) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Empty => SizeHint::with_exact(0),
            ReqBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ReqBody::Stream(s) => s.size_hint(),
        }
    }
}

/// Where a finished response's connection goes back to.
pub struct Return {
    pub key: Key,
    /// Requests its connection has carried, this one included.
    pub requests: u64,
    pub keepalive: Keepalive,
}

/// Where the body comes from.
pub enum Source {
    H1(h1::RecvBody),
    /// gRPC over HTTP/2 (hyper's client).
    H2(Incoming),
}

impl Source {
    fn is_end(&self) -> bool {
        match self {
            Source::H1(b) => b.is_end(),
            Source::H2(b) => b.is_end_stream(),
        }
    }
}

/// The upstream response body on its way to the client.
pub struct UpstreamBody {
    inner: Source,
    read_timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    back: Option<Return>,
    log: Rc<RefCell<UpstreamLog>>,
    info: LogContext,
    started: Instant,
    received: u64,
    done: bool,
}

impl UpstreamBody {
    pub fn new(
        inner: Source,
        read_timeout: Duration,
        back: Option<Return>,
        log: Rc<RefCell<UpstreamLog>>,
        info: LogContext,
        started: Instant,
    ) -> UpstreamBody {
        UpstreamBody {
            inner,
            read_timeout,
            sleep: Box::pin(tokio::time::sleep(read_timeout)),
            back,
            log,
            info,
            started,
            received: 0,
            done: false,
        }
    }

    fn finish(&mut self, complete: bool) {
        if self.done {
            return;
        }
        self.done = true;
        if let Some(a) = self.log.borrow_mut().attempts.last_mut() {
            a.response = Some(self.started.elapsed());
            a.length = self.received;
        }
        if let (Source::H1(b), true) = (&self.inner, complete) {
            if let Some(msg) = b.extra_data() {
                self.info.log(Level::Warn, msg);
            }
        }
        if let (Some(r), Source::H1(b), true) = (self.back.take(), &mut self.inner, complete) {
            if let Some(conn) = b.take_reusable() {
                let conn = pool::Conn {
                    conn,
                    requests: r.requests,
                };
                pool::put(r.key, conn, &r.keepalive);
            }
        }
    }

    /// The next frame, with errors in nginx's words (logged by the caller).
    fn poll_source(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, String>>> {
        match &mut self.inner {
            Source::H1(b) => b.poll_data(cx).map(|r| {
                r.map(|r| {
                    r.map(Frame::data).map_err(|e| match e.kind() {
                        std::io::ErrorKind::UnexpectedEof => {
                            "upstream prematurely closed connection while reading upstream"
                                .to_string()
                        }
                        std::io::ErrorKind::InvalidData => {
                            "upstream sent invalid chunked response while reading upstream"
                                .to_string()
                        }
                        _ => format!("{} while reading upstream", super::os_error("recv()", &e)),
                    })
                })
            }),
            Source::H2(b) => Pin::new(b).poll_frame(cx).map(|r| {
                r.map(|r| {
                    r.map_err(|e| {
                        if e.is_incomplete_message() {
                            "upstream prematurely closed connection while reading upstream"
                                .to_string()
                        } else {
                            format!("{} while reading upstream", super::describe(&e))
                        }
                    })
                })
            }),
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match this.poll_source(cx) {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    this.received += d.len() as u64;
                }
                if this.inner.is_end() {
                    // The last frame: the server may not poll again, so finish now.
                    this.finish(true);
                } else {
                    let deadline = tokio::time::Instant::now() + this.read_timeout;
                    this.sleep.as_mut().reset(deadline);
                }
                Poll::Ready(Some(Ok(f)))
            }
            Poll::Ready(Some(Err(msg))) => {
                this.info.log(Level::Error, &msg);
                this.finish(false);
                Poll::Ready(Some(Err(std::io::Error::other(msg))))
            }
            Poll::Ready(None) => {
                this.finish(true);
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.sleep.as_mut().poll(cx).is_ready() {
                    let msg =
                        "upstream timed out (110: Connection timed out) while reading upstream";
                    this.info.log(Level::Error, msg);
                    this.finish(false);
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        msg,
                    ))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Source::H1(b) => match b.remaining() {
                Some(n) => SizeHint::with_exact(n),
                None => SizeHint::default(),
            },
            Source::H2(b) => b.size_hint(),
        }
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // A body read to its end is complete even if nobody polled past it (an empty
        // body); otherwise the client went away and the connection is not reused.
        let complete = self.inner.is_end();
        self.finish(complete);
    }
}
