//! OpenClaw's HTTP/1 client for upstream connections: one request at a time on a
//! connection the request's own task drives (no connection task, no channels), the
//! response head parsed with httparse, the body decoded by [`crate::http1`].
//!
//! Framing follows RFC 9112 6.3 for responses: none after HEAD, 1xx, 204 and 304; chunked
//! when `Transfer-Encoding` ends in `chunked`; else `Content-Length`; else until the
//! connection closes. A connection is reusable after a response read to its end when the
//! upstream spoke HTTP/1.1 without `Connection: close` and the request did not ask to close.

use super::body::ReqBody;
use crate::pipeline::HeaderList;
use bytes::{Buf, Bytes, BytesMut};
use hyper::body::Body as _;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A response head larger than this is refused (nginx: `proxy_buffer_size`, 4-8 KB by
/// default; kept generous here since the head is not held in a fixed buffer).
const MAX_HEAD: usize = 64 * 1024;
/// Header lines in a response head at most.
const MAX_HEADERS: usize = 256;
/// Header lines most response heads fit in.
const FEW_HEADERS: usize = 32;

/// The transport under a connection.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => crate::http1::poll_read_drained(s, cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, b),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, b),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An upstream connection and what has been read from it but not consumed.
pub struct Conn {
    io: Stream,
    rbuf: BytesMut,
    /// The read timer of the last exchange, kept for the next (`clock::rearm`).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Why an exchange failed.
#[derive(Debug)]
pub enum Error {
    /// Writing the request failed: the upstream may not have seen it.
    Send(io::Error),
    /// The request body from the client failed.
    ClientBody(io::Error),
    /// The connection ended before any byte of a response.
    Closed,
    /// Reading the response head failed after it started, or with an error.
    Recv(io::Error),
    /// The head is not HTTP, or its framing headers are malformed.
    Invalid,
    /// The head is larger than [`MAX_HEAD`] or has more than [`MAX_HEADERS`] lines.
    TooBig,
}

/// A response head.
pub struct Head {
    pub status: u16,
    pub headers: HeaderList,
    pub body: BodyFraming,
}

/// How the body after a head is framed, and whether the connection may serve again.
pub struct BodyFraming {
    state: crate::http1::BodyState,
    keep_alive: bool,
    /// The body was chunked (else length-delimited or until close).
    chunked: bool,
}

impl Conn {
    pub fn new(io: Stream) -> Conn {
        Conn {
            io,
            rbuf: BytesMut::new(),
            timer: None,
        }
    }

    /// A timer that fires at `at`: the one the connection kept, when it has one.
    pub fn arm_timer(&mut self, at: tokio::time::Instant) -> Pin<Box<tokio::time::Sleep>> {
        crate::clock::rearm(self.timer.take(), at)
    }

    /// Keeps a timer from [`Conn::arm_timer`] for the next exchange.
    pub fn keep_timer(&mut self, t: Pin<Box<tokio::time::Sleep>>) {
        self.timer = Some(t);
    }

    /// Whether an idle connection can carry a request: the upstream has neither closed it
    /// nor sent anything unasked (nginx closes a cached connection on either).
    pub fn idle_usable(&mut self) -> bool {
        if !self.rbuf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut byte = [0u8; 1];
        let mut rb = ReadBuf::new(&mut byte);
        matches!(
            Pin::new(&mut self.io).poll_read(&mut cx, &mut rb),
            Poll::Pending
        )
    }

    /// Sends a request and reads the response head. `head` is the request line and header
    /// lines with the empty line; a streamed body goes chunked when `chunked`; `no_body`:
    /// the request is HEAD; `close_asked`: it says `Connection: close`.
    ///
    /// Writing and reading go on together, as nginx's upstream handlers do: an upstream
    /// that answers before it has read the whole body (a 413 to a large upload) is heard,
    /// and the rest of the body is not sent (the connection is then not reused).
    pub async fn exchange(
        &mut self,
        head: Bytes,
        body: &mut ReqBody,
        chunked: bool,
        no_body: bool,
        close_asked: bool,
    ) -> Result<Head, Error> {
        let mut w = Writer::new(head, body, chunked);
        let mut sent: Option<Result<(), Error>> = None;
        let mut seen = false;
        poll_fn(|cx| {
            if sent.is_none() {
                if let Poll::Ready(r) = w.poll(&mut self.io, cx) {
                    sent = Some(r);
                }
            }
            match self.poll_head(cx, no_body, close_asked, &mut seen) {
                Poll::Ready(Ok(mut head)) => {
                    // Answered before the request was all written: the connection is in
                    // the middle of a request, so it cannot serve another.
                    if !matches!(sent, Some(Ok(()))) {
                        head.body.keep_alive = false;
                    }
                    Poll::Ready(Ok(head))
                }
                // A failed write explains a failed read better than the read does.
                Poll::Ready(Err(e)) => match sent.take() {
                    Some(Err(se)) => Poll::Ready(Err(se)),
                    _ => Poll::Ready(Err(e)),
                },
                Poll::Pending => match sent.take() {
                    Some(Err(se)) => Poll::Ready(Err(se)),
                    other => {
                        sent = other;
                        Poll::Pending
                    }
                },
            }
        })
        .await
    }

    /// Reads until a response head is complete (skipping interim 1xx heads but a 101).
    fn poll_head(
        &mut self,
        cx: &mut Context<'_>,
        no_body: bool,
        close_asked: bool,
        seen: &mut bool,
    ) -> Poll<Result<Head, Error>> {
        loop {
            if !self.rbuf.is_empty() {
                *seen = true;
                let before = self.rbuf.len();
                if let Some(head) = self.parse_head(no_body, close_asked)? {
                    return Poll::Ready(Ok(head));
                }
                if self.rbuf.len() != before {
                    continue; // an interim 1xx head went
                }
                if self.rbuf.len() > MAX_HEAD {
                    return Poll::Ready(Err(Error::TooBig));
                }
            }
            let n = match ready!(crate::http1::poll_fill(&mut self.io, &mut self.rbuf, cx)) {
                Ok(n) => n,
                Err(e) if *seen => return Poll::Ready(Err(Error::Recv(e))),
                Err(e) => return Poll::Ready(Err(Error::from_first_read(e))),
            };
            if n == 0 {
                return Poll::Ready(Err(if *seen {
                    Error::Recv(io::ErrorKind::UnexpectedEof.into())
                } else {
                    Error::Closed
                }));
            }
        }
    }

    /// Parses a complete head out of `rbuf`; `None` when more bytes are needed, or after an
    /// interim 1xx head was consumed.
    fn parse_head(&mut self, no_body: bool, close_asked: bool) -> Result<Option<Head>, Error> {
        use crate::http1::{BodyState, Chunk};
        // Room for a usual head on the stack; a head with more lines is parsed again with
        // room for MAX_HEADERS (zeroing that many slots on every response costs more than
        // the parse).
        let mut slots = [httparse::EMPTY_HEADER; FEW_HEADERS];
        let mut many = Vec::new();
        let mut resp = httparse::Response::new(&mut slots);
        let used = match resp.parse(&self.rbuf) {
            Err(httparse::Error::TooManyHeaders) => {
                many.resize(MAX_HEADERS, httparse::EMPTY_HEADER);
                resp = httparse::Response::new(&mut many);
                resp.parse(&self.rbuf)
            }
            r => r,
        };
        let used = match used {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(Error::TooBig),
            Err(_) => return Err(Error::Invalid),
        };
        let status = resp.code.unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            let _ = self.rbuf.split_to(used);
            return Ok(None);
        }
        // Where each name and value sits in the head: the head is then split off the
        // buffer as one `Bytes` and the values are slices of it, not copies.
        let base = self.rbuf.as_ptr() as usize;
        let count = resp.headers.len();
        let mut few = [(0usize, 0usize, 0usize, 0usize); FEW_HEADERS];
        let mut more = Vec::new();
        let spans = if count <= FEW_HEADERS {
            &mut few[..count]
        } else {
            more.resize(count, (0, 0, 0, 0));
            &mut more[..]
        };
        for (span, h) in spans.iter_mut().zip(resp.headers.iter()) {
            let n = h.name.as_ptr() as usize - base;
            let v = h.value.as_ptr() as usize - base;
            *span = (n, n + h.name.len(), v, v + h.value.len());
        }
        let mut close = resp.version != Some(1) || close_asked;
        let head = self.rbuf.split_to(used).freeze();
        let mut headers = HeaderList::with_capacity(count);
        let mut chunked = None;
        let mut length: Option<u64> = None;
        for &(n0, n1, v0, v1) in spans.iter() {
            let name = crate::http1::header_name(&head[n0..n1]).map_err(|_| Error::Invalid)?;
            let raw = &head[v0..v1];
            if name == http::header::CONTENT_LENGTH {
                // nginx 1.22 ignores a length it cannot read (`+5`, `abc`): the body runs
                // as if none was sent, and the header is not passed on.
                let Some(n) = crate::http1::content_length(raw) else {
                    continue;
                };
                if length.is_some_and(|l| l != n) {
                    return Err(Error::Invalid);
                }
                length = Some(n);
            } else if name == http::header::TRANSFER_ENCODING {
                let last = raw.rsplit(|b| *b == b',').next().unwrap_or(b"");
                chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if name == http::header::CONNECTION {
                close |= crate::http1::has_token(raw, b"close");
            }
            let value = crate::http1::parsed_header_value(head.slice(v0..v1))
                .map_err(|_| Error::Invalid)?;
            headers.append(name, value);
        }
        let state = if no_body || matches!(status, 101 | 204 | 304) {
            BodyState::Done
        } else {
            match (chunked, length) {
                (Some(true), _) => BodyState::Chunked(Chunk::Size),
                // Another transfer coding: the body runs to the connection's end.
                (Some(false), _) | (None, None) => BodyState::UntilClose,
                (None, Some(0)) => BodyState::Done,
                (None, Some(n)) => BodyState::Length(n),
            }
        };
        let keep_alive = !close && status != 101 && state != BodyState::UntilClose;
        Ok(Some(Head {
            status,
            headers,
            body: BodyFraming {
                state,
                keep_alive,
                chunked: chunked == Some(true),
            },
        }))
    }
}

impl Error {
    /// A reset on the first read is a connection the upstream had closed: as good as EOF.
    fn from_first_read(e: io::Error) -> Error {
        if e.kind() == io::ErrorKind::ConnectionReset {
            Error::Closed
        } else {
            Error::Recv(e)
        }
    }
}

/// The connection after a 101: what was read past the head first, then the stream.
impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.rbuf.is_empty() {
            let n = this.rbuf.len().min(buf.remaining());
            buf.put_slice(&this.rbuf.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, b)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A request on its way out: the pieces ready to go, in order, written with vectored
/// writes (the head and a buffered body in one `writev`, a streamed chunk with its framing
/// lines, and no copy of either).
struct Writer<'a> {
    /// What is ready to go, the head first: a piece partly written has been advanced past
    /// what went. (The head apart: a request without a body queues nothing else, so it
    /// allocates nothing.)
    head: Bytes,
    queue: VecDeque<Bytes>,
    body: &'a mut ReqBody,
    chunked: bool,
    /// Nothing more comes from the body (a chunked one's last chunk is queued).
    ended: bool,
}

/// Pieces handed to one vectored write at most.
const MAX_IOV: usize = 4;

impl<'a> Writer<'a> {
    fn new(head: Bytes, body: &'a mut ReqBody, chunked: bool) -> Writer<'a> {
        let mut queue = VecDeque::new();
        if let ReqBody::Full(Some(b)) = &*body {
            if !b.is_empty() {
                queue.push_back(b.clone());
            }
        }
        let ended = !matches!(body, ReqBody::Stream(_));
        Writer {
            head,
            queue,
            body,
            chunked,
            ended,
        }
    }

    /// Writes what it can; `Ready(Ok)` once the whole request went.
    fn poll(&mut self, io: &mut Stream, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            while !self.head.is_empty() || !self.queue.is_empty() {
                let mut iov = [IoSlice::new(&[]); MAX_IOV];
                let pieces = std::iter::once(&self.head)
                    .filter(|h| !h.is_empty())
                    .chain(self.queue.iter());
                let mut k = 0;
                for (slot, piece) in iov.iter_mut().zip(pieces) {
                    *slot = IoSlice::new(piece);
                    k += 1;
                }
                let mut n = ready!(Pin::new(&mut *io).poll_write_vectored(cx, &iov[..k]))
                    .map_err(Error::Send)?;
                if n == 0 {
                    return Poll::Ready(Err(Error::Send(io::ErrorKind::WriteZero.into())));
                }
                let first = n.min(self.head.len());
                self.head.advance(first);
                n -= first;
                while let Some(front) = self.queue.front_mut() {
                    if n < front.len() {
                        front.advance(n);
                        break;
                    }
                    n -= front.len();
                    self.queue.pop_front();
                }
            }
            if self.ended {
                return Poll::Ready(Ok(()));
            }
            let ReqBody::Stream(s) = &mut *self.body else {
                self.ended = true;
                continue;
            };
            match ready!(Pin::new(s).poll_frame(cx)) {
                None => {
                    self.ended = true;
                    if self.chunked {
                        self.queue.push_back(Bytes::from_static(b"0\r\n\r\n"));
                    }
                }
                Some(Err(e)) => return Poll::Ready(Err(Error::ClientBody(e))),
                Some(Ok(f)) => {
                    let Ok(data) = f.into_data() else { continue };
                    if data.is_empty() {
                        continue;
                    }
                    if self.chunked {
                        self.queue
                            .push_back(Bytes::from(format!("{:x}\r\n", data.len())));
                        self.queue.push_back(data);
                        self.queue.push_back(Bytes::from_static(b"\r\n"));
                    } else {
                        self.queue.push_back(data);
                    }
                }
            }
        }
    }
}

/// A response body being read off its connection.
pub struct RecvBody {
    conn: Option<Conn>,
    framing: BodyFraming,
}

impl RecvBody {
    pub fn new(conn: Conn, framing: BodyFraming) -> RecvBody {
        RecvBody {
            conn: Some(conn),
            framing,
        }
    }

    /// The next piece of the body, `None` after its end. Errors: `UnexpectedEof` (closed
    /// early), `InvalidData` (bad chunking), or the socket's.
    pub fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        use crate::http1::{decode, BodyState, Step};
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(None);
        };
        let state = &mut self.framing.state;
        loop {
            match decode(state, &mut conn.rbuf) {
                Ok(Step::Data(d)) => return Poll::Ready(Some(Ok(d))),
                Ok(Step::End) => return Poll::Ready(None),
                Ok(Step::NeedMore) => {}
                Err(e) => {
                    *state = BodyState::Failed;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            let want = match *state {
                BodyState::Length(n) => usize::try_from(n).unwrap_or(usize::MAX),
                _ => 0,
            };
            match ready!(crate::http1::poll_fill_for(
                &mut conn.io,
                &mut conn.rbuf,
                cx,
                want
            )) {
                Ok(0) if *state == BodyState::UntilClose => {
                    *state = BodyState::Done;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    *state = BodyState::Failed;
                    return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into())));
                }
                Ok(_) => {}
                Err(e) => {
                    *state = BodyState::Failed;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    pub fn is_end(&self) -> bool {
        self.framing.state == crate::http1::BodyState::Done
    }

    /// The bytes still to come, when known.
    pub fn remaining(&self) -> Option<u64> {
        match self.framing.state {
            crate::http1::BodyState::Done => Some(0),
            crate::http1::BodyState::Length(n) => Some(n),
            _ => None,
        }
    }

    /// The connection, for another request: only after the whole body, when the
    /// connection may serve again and nothing unasked follows the body.
    pub fn take_reusable(&mut self) -> Option<Conn> {
        if self.is_end() && self.framing.keep_alive {
            self.conn.take().filter(|c| c.rbuf.is_empty())
        } else {
            None
        }
    }

    /// nginx's warning when bytes follow the whole body on the connection (they are
    /// dropped, with the connection): `None` when nothing does.
    pub fn extra_data(&self) -> Option<&'static str> {
        let extra = self.is_end() && self.conn.as_ref().is_some_and(|c| !c.rbuf.is_empty());
        match (extra, self.framing.chunked) {
            (false, _) => None,
            (true, true) => Some("upstream sent data after final chunk while reading upstream"),
            (true, false) => Some(
                "upstream sent more data than specified in \"Content-Length\" header while reading upstream",
            ),
        }
    }

    /// The connection itself (after a 101).
    pub fn take_conn(&mut self) -> Option<Conn> {
        self.conn.take()
    }
}
