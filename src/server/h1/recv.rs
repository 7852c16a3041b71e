//! The connection's read side, shared by the connection loop (request heads, draining an
//! unread body) and the request body handed to the pipeline, and its write side for the
//! `100 Continue` a body read may owe. One thread uses it: a `RefCell` borrowed only
//! inside a poll, never across an await.

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

/// A chunk-size or trailer line longer than this is refused.
const MAX_LINE: usize = 8192;

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
}

/// Where the current request's body stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyState {
    Done,
    /// This many bytes still to come.
    Length(u64),
    Chunked(Chunk),
    /// The body was malformed or the connection failed: it cannot be read further.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunk {
    /// Reading a chunk-size line.
    Size,
    /// Inside a chunk's data: bytes left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk, up to an empty line.
    Trailers,
}

/// What decoding the buffered bytes gave.
enum Step {
    Data(Bytes),
    End,
    NeedMore,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Shared<S> {
    pub(super) fn new(io: S) -> Shared<S> {
        Shared {
            io,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            body: BodyState::Done,
            continue_left: None,
            taken: false,
        }
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
    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.rbuf.capacity() - self.rbuf.len() < 1024 {
            self.rbuf.reserve(READ_CHUNK);
        }
        let spare = self.rbuf.spare_capacity_mut();
        let mut rb = ReadBuf::uninit(spare);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        // SAFETY: poll_read initialised and filled the first n bytes of the spare capacity.
        unsafe { self.rbuf.set_len(self.rbuf.len() + n) };
        Poll::Ready(Ok(n))
    }

    /// The next piece of the body: data, `None` at its end.
    pub(super) fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
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
        loop {
            match self.body {
                BodyState::Done => return Ok(Step::End),
                BodyState::Failed => return Err(invalid("the request body cannot be read")),
                BodyState::Length(left) => {
                    if self.rbuf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let n = (left.min(self.rbuf.len() as u64)) as usize;
                    let data = self.rbuf.split_to(n).freeze();
                    self.body = if left == n as u64 {
                        BodyState::Done
                    } else {
                        BodyState::Length(left - n as u64)
                    };
                    return Ok(Step::Data(data));
                }
                BodyState::Chunked(Chunk::Size) => {
                    let size = match httparse::parse_chunk_size(&self.rbuf) {
                        Ok(httparse::Status::Complete((used, size))) => {
                            let _ = self.rbuf.split_to(used);
                            size
                        }
                        Ok(httparse::Status::Partial) if self.rbuf.len() <= MAX_LINE => {
                            return Ok(Step::NeedMore)
                        }
                        _ => return Err(invalid("invalid chunked body")),
                    };
                    self.body = BodyState::Chunked(if size == 0 {
                        Chunk::Trailers
                    } else {
                        Chunk::Data(size)
                    });
                }
                BodyState::Chunked(Chunk::Data(left)) => {
                    if self.rbuf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let n = (left.min(self.rbuf.len() as u64)) as usize;
                    let data = self.rbuf.split_to(n).freeze();
                    self.body = BodyState::Chunked(if left == n as u64 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left - n as u64)
                    });
                    return Ok(Step::Data(data));
                }
                BodyState::Chunked(Chunk::DataEnd) => {
                    if self.rbuf.len() < 2 {
                        return Ok(Step::NeedMore);
                    }
                    if &self.rbuf[..2] != b"\r\n" {
                        return Err(invalid("invalid chunked body"));
                    }
                    let _ = self.rbuf.split_to(2);
                    self.body = BodyState::Chunked(Chunk::Size);
                }
                BodyState::Chunked(Chunk::Trailers) => {
                    let Some(end) = self.rbuf.windows(2).position(|w| w == b"\r\n") else {
                        if self.rbuf.len() > MAX_LINE {
                            return Err(invalid("invalid chunked body"));
                        }
                        return Ok(Step::NeedMore);
                    };
                    let _ = self.rbuf.split_to(end + 2);
                    if end == 0 {
                        self.body = BodyState::Done;
                    }
                }
            }
        }
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

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
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

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Upgraded<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.shared.borrow_mut().io).poll_write(cx, b)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.shared.borrow_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.shared.borrow_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(state: BodyState, input: &[u8]) -> (Vec<u8>, BodyState, Vec<u8>) {
        let mut sh = Shared::new(tokio::io::duplex(64).0);
        sh.rbuf.extend_from_slice(input);
        sh.body = state;
        let mut out = Vec::new();
        while let Ok(Step::Data(d)) = sh.decode() {
            out.extend_from_slice(&d);
        }
        (out, sh.body, sh.rbuf.to_vec())
    }

    #[test]
    fn chunked_bodies_decode_and_leave_the_next_request() {
        let (data, state, rest) = decode_all(
            BodyState::Chunked(Chunk::Size),
            b"3\r\nabc\r\nA;ext=1\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nGET /",
        );
        assert_eq!(data, b"abc0123456789");
        assert_eq!(state, BodyState::Done);
        assert_eq!(rest, b"GET /");
    }

    #[test]
    fn a_partial_chunk_waits_for_more() {
        let (data, state, _) = decode_all(BodyState::Chunked(Chunk::Size), b"5\r\nab");
        assert_eq!(data, b"ab");
        assert_eq!(state, BodyState::Chunked(Chunk::Data(3)));
    }

    #[test]
    fn bad_chunk_sizes_fail() {
        let mut sh = Shared::new(tokio::io::duplex(64).0);
        sh.rbuf.extend_from_slice(b"zz\r\n");
        sh.body = BodyState::Chunked(Chunk::Size);
        assert!(sh.decode().is_err());
    }

    #[test]
    fn a_length_body_stops_at_its_length() {
        let (data, state, rest) = decode_all(BodyState::Length(4), b"abcdGET");
        assert_eq!(data, b"abcd");
        assert_eq!(state, BodyState::Done);
        assert_eq!(rest, b"GET");
    }
}
