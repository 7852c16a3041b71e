//! The client's TCP stream shared between the connection's server (which reads and writes
//! it) and the request pipeline (which only peeks at it to notice the client closing mid-request, as
//! nginx's `recv(MSG_PEEK)` checks do). Both use `&TcpStream` readiness methods.

use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub(super) struct SharedTcp(pub(super) Arc<TcpStream>);

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        crate::http1::poll_read_drained(&self.0, cx, buf)
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match crate::http1::try_send(&self.0, data) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return Poll::Ready(r),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match crate::http1::try_writev(&self.0, bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return Poll::Ready(r),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // SAFETY: the descriptor is owned by the stream, which the Arc keeps open.
        let r = unsafe { libc::shutdown(self.0.as_raw_fd(), libc::SHUT_WR) };
        if r == 0 {
            Poll::Ready(Ok(()))
        } else {
            let e = io::Error::last_os_error();
            // Already closed by the peer: nothing left to shut down.
            if e.raw_os_error() == Some(libc::ENOTCONN) {
                Poll::Ready(Ok(()))
            } else {
                Poll::Ready(Err(e))
            }
        }
    }
}
