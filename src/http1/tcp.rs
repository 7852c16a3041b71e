//! Reading into connection buffers, and reading a TCP stream the way nginx does: a short
//! read means the socket is drained.

use bytes::BytesMut;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, Interest, ReadBuf};
use tokio::net::TcpStream;

/// Reads what the socket has into `buf`. A read that fills less than the room it was given
/// drained the socket (nginx's `rev->ready = 0`): the readiness is forgotten now rather
/// than learnt from a next read that fails with EAGAIN. Safe on a single-threaded runtime
/// (every worker's): its driver cannot have taken a newer edge between that read and this.
pub fn poll_read_drained(
    s: &TcpStream,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    loop {
        ready!(s.poll_read_ready(cx))?;
        match s.try_read_buf(buf) {
            Ok(n) => {
                if n > 0 && buf.remaining() > 0 {
                    let _ = s.try_io(Interest::READABLE, || {
                        Err::<(), _>(io::ErrorKind::WouldBlock.into())
                    });
                }
                return Poll::Ready(Ok(()));
            }
            // Readiness was stale; try_read cleared it, so the next poll registers.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// How much a read asks for at once.
const READ_CHUNK: usize = 16 * 1024;

/// Reads more bytes onto the end of `buf` (growing it when less than 1 KB is free): the
/// count read, 0 at end of stream.
pub fn poll_fill<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    poll_fill_for(io, buf, cx, READ_CHUNK)
}

/// The most a read asks for when more is known to come (a body's announced length).
const READ_MAX: usize = 64 * 1024;

/// `poll_fill` for a reader that knows `want` more bytes are coming: room for up to
/// `READ_MAX` of them is made, so a large body takes a few reads (and as few writes on
/// to the client) rather than one per 16 KB.
pub fn poll_fill_for<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
    want: usize,
) -> Poll<io::Result<usize>> {
    let room = want.clamp(READ_CHUNK, READ_MAX);
    let low = if room > READ_CHUNK { room / 2 } else { 1024 };
    if buf.capacity() - buf.len() < low {
        buf.reserve(room);
    }
    let mut rb = ReadBuf::uninit(buf.spare_capacity_mut());
    ready!(Pin::new(io).poll_read(cx, &mut rb))?;
    let n = rb.filled().len();
    // SAFETY: poll_read initialised and filled the first n bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + n) };
    Poll::Ready(Ok(n))
}
