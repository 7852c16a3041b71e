//! A cosocket's byte stream: plain TCP, TLS over it after `sslhandshake`, the request
//! body (`ngx.req.socket()`: read-only), or the client connection after a 101 response
//! (`ngx.req.socket(true)`).

use crate::pipeline::{ReqBody, Upgraded};
use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub enum Conn {
    Plain(TcpStream),
    /// `connect("unix:/path")`.
    Unix(tokio::net::UnixStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Body(BodyReader),
    /// The downstream connection the server handed over (`ngx.req.socket(true)`).
    Raw(RawIo),
}

/// The raw request connection, shared with the request's state, which drops it (closing
/// the connection) when the handler ends, as nginx closes it with the request.
pub type RawIo = Rc<RefCell<Option<Upgraded>>>;

/// Runs `f` on the raw connection, or fails as closed once the request ended.
fn with_raw<T>(
    raw: &RawIo,
    f: impl FnOnce(Pin<&mut Upgraded>) -> Poll<io::Result<T>>,
) -> Poll<io::Result<T>> {
    match raw.borrow_mut().as_mut() {
        Some(s) => f(Pin::new(s)),
        None => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
    }
}

/// The request body as a byte stream: data frames in order, trailers skipped.
pub struct BodyReader {
    body: ReqBody,
    pending: bytes::Bytes,
}

impl BodyReader {
    pub fn new(body: ReqBody) -> BodyReader {
        BodyReader {
            body,
            pending: bytes::Bytes::new(),
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        use hyper::body::Body;
        while self.pending.is_empty() {
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.pending = data;
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = self.pending.len().min(buf.remaining());
        buf.put_slice(&self.pending.split_to(n));
        Poll::Ready(Ok(()))
    }
}

fn read_only() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the request socket is read-only")
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Conn::Body(b) => b.poll_read(cx, buf),
            Conn::Raw(s) => with_raw(s, |s| s.poll_read(cx, buf)),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Conn::Body(_) => Poll::Ready(Err(read_only())),
            Conn::Raw(s) => with_raw(s, |s| s.poll_write(cx, buf)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Unix(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Conn::Body(_) => Poll::Ready(Ok(())),
            Conn::Raw(s) => with_raw(s, |s| s.poll_flush(cx)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Conn::Body(_) => Poll::Ready(Ok(())),
            Conn::Raw(s) => with_raw(s, |s| s.poll_shutdown(cx)),
        }
    }
}

/// A failed handshake as OpenResty words it (OpenSSL's verify codes where they map).
pub fn handshake_error(e: &io::Error) -> String {
    use rustls::CertificateError as C;
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "certificate host mismatch".into()
            }
            C::Expired | C::ExpiredContext { .. } => "10: certificate has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "9: certificate is not yet valid".into()
            }
            C::Revoked => "23: certificate revoked".into(),
            C::UnknownIssuer => "20: unable to get local issuer certificate".into(),
            other => format!("handshake failed ({other:?})"),
        },
        Some(other) => format!("handshake failed ({other})"),
        None if e.kind() == io::ErrorKind::UnexpectedEof => "handshake failed".into(),
        None => format!("handshake failed ({e})"),
    }
}
