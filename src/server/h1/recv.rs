//! The connection's read side, shared by the connection loop (request heads, draining an
//! unread body) and the request body handed to the pipeline, and its write side for the
//! `100 Continue` a body read may owe and for responses held back behind pipelined
//! requests (`pending`). One thread uses it: a `RefCell` borrowed only inside a poll,
//! never across an await.

pub(super) use crate::http1::{decode, BodyState, Chunk, Step};
use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How much a read asks for at once.
const READ_CHUNK: usize = 16 * 1024;

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

pub(super) struct Shared<S> {
    pub(super) io: S,
    /// Bytes read and not consumed yet: the rest of a head, body bytes, pipelined requests.
    pub(super) rbuf: BytesMut,
    pub(super) body: BodyState,
    /// Bytes of `100 Continue` still to write before the body is read (`None`: none owed).
    continue_left: Option<usize>,
    /// A handler took the connection (`ngx.req.socket(true)`): nothing more is written
    /// on it by the server.
    pub(super) taken: bool,
    /// Whole responses not sent yet, from `pending_at` on: while the next pipelined
    /// request is already buffered, a response waits here to go out with the ones after
    /// it in one write. Whatever writes to the connection or waits on it sends these
    /// first, so they never wait on anything but the next response.
    pub(super) pending: Vec<u8>,
    pub(super) pending_at: usize,
    /// Held-back bytes were written and not flushed yet (TLS keeps records until then).
    pub(super) flush_owed: bool,
    /// The `send_timeout` of the latest held-back response: what sending them at the
    /// connection's end may wait.
    pub(super) pending_timeout: std::time::Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Shared<S> {
    pub(super) fn new(io: S) -> Shared<S> {
        Shared {
            io,
            // Allocated when the first bytes come (see `poll_fill`).
            rbuf: BytesMut::new(),
            body: BodyState::Done,
            continue_left: None,
            taken: false,
            pending: Vec::new(),
            pending_at: 0,
            flush_owed: false,
            pending_timeout: std::time::Duration::ZERO,
        }
    }

    /// Responses are held back (`pending`), or written and not flushed.
    pub(super) fn has_pending(&self) -> bool {
        self.pending_at < self.pending.len() || self.flush_owed
    }

    /// Counts `n` written bytes of `pending`.
    fn sent_pending(&mut self, n: usize) {
        self.pending_at += n;
        self.flush_owed = true;
        if self.pending_at >= self.pending.len() {
            self.drop_pending();
        }
    }

    /// Lets go of `pending` (sent, or the connection failed): a pipelining client is rare,
    /// and an idle connection stays small.
    fn drop_pending(&mut self) {
        self.pending = Vec::new();
        self.pending_at = 0;
    }

    /// Sends the held-back responses; on an error they are dropped (the connection is
    /// done for, and the next write fails as well).
    pub(super) fn poll_send_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pending_at < self.pending.len() {
            let err = match ready!(
                Pin::new(&mut self.io).poll_write(cx, &self.pending[self.pending_at..])
            ) {
                Ok(0) => io::ErrorKind::WriteZero.into(),
                Ok(n) => {
                    self.sent_pending(n);
                    continue;
                }
                Err(e) => e,
            };
            self.drop_pending();
            self.flush_owed = false;
            return Poll::Ready(Err(err));
        }
        if self.flush_owed {
            let r = ready!(Pin::new(&mut self.io).poll_flush(cx));
            self.flush_owed = false;
            r?;
        }
        Poll::Ready(Ok(()))
    }

    /// Starts a request's body; `expect_continue` owes a `100 Continue` before the first
    /// read of it (as nginx sends it when the body is first read).
    pub(super) fn start_body(&mut self, state: BodyState, expect_continue: bool) {
        self.body = state;
        self.continue_left =
            (expect_continue && state != BodyState::Done).then_some(CONTINUE.len());
    }

    /// A `100 Continue` owed and never sent: the client may not have sent its body.
    pub(super) fn continue_unsent(&self) -> bool {
        self.continue_left == Some(CONTINUE.len())
    }

    /// Reads more bytes into `rbuf`: the count read, 0 at end of stream.
    ///
    /// An idle connection holds no read buffer (`release_idle`), as nginx frees its header
    /// buffer between requests: a read then lands on the stack, and only bytes that came
    /// are copied into a new buffer (a request head is small; the copy costs less than
    /// 16 KB held by every kept-alive connection).
    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.rbuf.capacity() == 0 {
            let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut rb = ReadBuf::uninit(&mut chunk);
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n > 0 {
                // Sized for what came (a head, mostly), at least 1 KB as nginx's
                // client_header_buffer_size; a body read makes room as it needs.
                self.rbuf = BytesMut::with_capacity(n.max(1024));
                self.rbuf.extend_from_slice(rb.filled());
            }
            return Poll::Ready(Ok(n));
        }
        crate::http1::poll_fill(&mut self.io, &mut self.rbuf, cx)
    }

    /// Lets go of the read buffer when nothing is left in it (between requests).
    pub(super) fn release_idle(&mut self) {
        if self.rbuf.is_empty() {
            self.rbuf = BytesMut::new();
        }
    }

    /// The next piece of the body: data, `None` at its end.
    pub(super) fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        if self.continue_left.is_some() {
            // The earlier responses come before this request's `100 Continue`.
            if let Err(e) = ready!(self.poll_send_pending(cx)) {
                self.body = BodyState::Failed;
                return Poll::Ready(Some(Err(e)));
            }
        }
        while let Some(left) = self.continue_left {
            let from = CONTINUE.len() - left;
            match ready!(Pin::new(&mut self.io).poll_write(cx, &CONTINUE[from..])) {
                Ok(0) => return Poll::Ready(Some(Err(io::ErrorKind::WriteZero.into()))),
                Ok(n) if n >= left => self.continue_left = None,
                Ok(n) => self.continue_left = Some(left - n),
                Err(e) => {
                    self.body = BodyState::Failed;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            if self.continue_left.is_none() {
                ready!(Pin::new(&mut self.io).poll_flush(cx))?;
            }
        }
        loop {
            match self.decode() {
                Ok(Step::Data(d)) => return Poll::Ready(Some(Ok(d))),
                Ok(Step::End) => return Poll::Ready(None),
                Ok(Step::NeedMore) => {}
                Err(e) => {
                    self.body = BodyState::Failed;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            match ready!(self.poll_fill(cx)) {
                Ok(0) => {
                    self.body = BodyState::Failed;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "client prematurely closed connection",
                    ))));
                }
                Ok(_) => {}
                Err(e) => {
                    self.body = BodyState::Failed;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    /// Decodes what `rbuf` holds of the body.
    fn decode(&mut self) -> io::Result<Step> {
        decode(&mut self.body, &mut self.rbuf)
    }

    /// Reads and drops the rest of the body (nginx discards an unread body to keep the
    /// connection). `Ready(true)` once it is all read.
    pub(super) fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        loop {
            match ready!(self.poll_body(cx)) {
                None => return Poll::Ready(true),
                Some(Ok(_)) => {}
                Some(Err(_)) => return Poll::Ready(false),
            }
        }
    }
}

/// The request body as the pipeline sees it: a handle on the connection's read side.
pub(super) struct RecvBody<S> {
    pub(super) shared: Rc<RefCell<Shared<S>>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Body for RecvBody<S> {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let mut sh = self.shared.borrow_mut();
        sh.poll_body(cx).map(|r| r.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.shared.borrow().body == BodyState::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.shared.borrow().body {
            BodyState::Done => SizeHint::with_exact(0),
            BodyState::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

/// Hands the connection over: after a 101, or to `ngx.req.socket(true)` at once.
impl<S: AsyncRead + AsyncWrite + Unpin + 'static> crate::pipeline::Takeover for RefCell<Shared<S>> {
    fn take(self: Rc<Self>) -> crate::pipeline::Upgraded {
        self.borrow_mut().taken = true;
        Box::new(Upgraded { shared: self })
    }
}

/// The client connection after a 101 (or taken by a handler): what was read past the
/// request head first, then the stream itself.
pub(super) struct Upgraded<S> {
    pub(super) shared: Rc<RefCell<Shared<S>>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Upgraded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut sh = self.shared.borrow_mut();
        if !sh.rbuf.is_empty() {
            let n = sh.rbuf.len().min(buf.remaining());
            buf.put_slice(&sh.rbuf.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut sh.io).poll_read(cx, buf)
    }
}

// Held-back responses go out before anything the new owner writes.
impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Upgraded<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        let mut sh = self.shared.borrow_mut();
        ready!(sh.poll_send_pending(cx))?;
        Pin::new(&mut sh.io).poll_write(cx, b)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut sh = self.shared.borrow_mut();
        ready!(sh.poll_send_pending(cx))?;
        Pin::new(&mut sh.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut sh = self.shared.borrow_mut();
        ready!(sh.poll_send_pending(cx))?;
        Pin::new(&mut sh.io).poll_shutdown(cx)
    }
}
