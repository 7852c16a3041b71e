//! What the pipeline gets of the client connection besides the request head: the request
//! body as it arrives, and the connection itself after a 101 response (an `Upgrade`).
//! Both come from OpenClaw's own HTTP/1 server or from hyper (HTTP/2 listens); the
//! pipeline does not care which.

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};

/// A request body stream of the HTTP/1 server.
pub type BodyStream = Pin<Box<dyn Body<Data = Bytes, Error = io::Error>>>;

/// The request body not read yet.
pub enum ReqBody {
    /// No body (no `Content-Length`, or 0, and not chunked).
    Empty,
    Stream(BodyStream),
    Hyper(hyper::body::Incoming),
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            ReqBody::Empty => Poll::Ready(None),
            ReqBody::Stream(s) => s.as_mut().poll_frame(cx),
            ReqBody::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(io::Error::other),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Empty => true,
            ReqBody::Stream(s) => s.is_end_stream(),
            ReqBody::Hyper(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Empty => SizeHint::with_exact(0),
            ReqBody::Stream(s) => s.size_hint(),
            ReqBody::Hyper(b) => b.size_hint(),
        }
    }
}

/// A byte stream both ways: the client connection after a 101.
pub trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

/// The client connection, handed over once the 101 response is written.
pub type Upgraded = Box<dyn Io>;

/// Hands over the client connection at once, to a handler that writes its own response
/// (`ngx.req.socket(true)`): the server writes nothing more on it and closes it when the
/// request ends.
pub trait Takeover {
    fn take(self: std::rc::Rc<Self>) -> Upgraded;
}

impl std::fmt::Debug for dyn Takeover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Takeover")
    }
}

/// Resolves to the client connection once the 101 response has been written; fails if
/// the connection ended first or the response was not a 101.
pub enum OnUpgrade {
    Own(tokio::sync::oneshot::Receiver<Upgraded>),
    Hyper(hyper::upgrade::OnUpgrade),
}

impl Future for OnUpgrade {
    type Output = io::Result<Upgraded>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<Upgraded>> {
        match self.get_mut() {
            OnUpgrade::Own(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.map_err(|_| io::Error::new(io::ErrorKind::NotConnected, "no upgrade"))),
            OnUpgrade::Hyper(u) => Pin::new(u).poll(cx).map(|r| match r {
                Ok(up) => Ok(Box::new(hyper_util::rt::TokioIo::new(up)) as Upgraded),
                Err(e) => Err(io::Error::other(e)),
            }),
        }
    }
}
