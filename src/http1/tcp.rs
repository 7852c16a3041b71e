//! Reading into connection buffers, and reading a TCP stream the way nginx does: a short
//! read means the socket is drained.

use bytes::{BufMut, BytesMut};
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, Interest, ReadBuf};
use tokio::net::TcpStream;

/// The three socket calls a request makes, as bare system calls. glibc's `recv`, `send`
/// and `writev` are cancellation points: in a threaded process each wraps the call in
/// two atomic updates of the thread's cancel state, which a worker (which never cancels
/// threads) pays on every read and write. `syscall` is not a cancellation point.
mod raw {
    use std::io::{self, IoSlice};
    use std::os::fd::RawFd;

    fn check(r: libc::c_long) -> io::Result<usize> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    /// `recv(fd, buf, len, 0)`.
    pub(super) fn recv(fd: RawFd, buf: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<usize> {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which is valid
        // for writes of that length; a bad descriptor is an error return, not UB.
        check(unsafe {
            libc::syscall(
                libc::SYS_recvfrom,
                fd,
                buf.as_mut_ptr(),
                buf.len(),
                0,
                std::ptr::null_mut::<libc::sockaddr>(),
                std::ptr::null_mut::<libc::socklen_t>(),
            )
        })
    }

    /// `send(fd, data, len, MSG_NOSIGNAL)`, as std's `TcpStream::write` does.
    pub(super) fn send(fd: RawFd, data: &[u8]) -> io::Result<usize> {
        // SAFETY: the kernel only reads `data.len()` bytes from `data`.
        check(unsafe {
            libc::syscall(
                libc::SYS_sendto,
                fd,
                data.as_ptr(),
                data.len(),
                libc::MSG_NOSIGNAL,
                std::ptr::null::<libc::sockaddr>(),
                0 as libc::socklen_t,
            )
        })
    }

    /// `writev(fd, iov, n)`. (A write on a socket whose peer is gone gives EPIPE, not
    /// SIGPIPE: the Rust runtime ignores SIGPIPE.)
    pub(super) fn writev(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // IoSlice is ABI-compatible with iovec on Unix; the kernel caps the count itself
        // (EINVAL above IOV_MAX), so it is capped here as std does.
        let n = bufs.len().min(1024);
        // SAFETY: `bufs` is valid for reads of `n` iovecs, each pointing at live slices.
        check(unsafe { libc::syscall(libc::SYS_writev, fd, bufs.as_ptr(), n) })
    }
}

/// Reads what the socket has into `buf` with a bare `recv` (WouldBlock clears the read
/// readiness, as tokio's `try_read` does). A read that fills less than `buf` drained the
/// socket (nginx's `rev->ready = 0`): the readiness is forgotten now rather than learnt
/// from a next read that fails with EAGAIN. Safe on a single-threaded runtime (every
/// worker's): its driver cannot have taken a newer edge between that read and this.
fn recv_drained(s: &TcpStream, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    let fd = s.as_raw_fd();
    let room = buf.len();
    let n = s.try_io(Interest::READABLE, || raw::recv(fd, buf))?;
    if n > 0 && n < room {
        let _ = s.try_io(Interest::READABLE, || {
            Err::<(), _>(io::ErrorKind::WouldBlock.into())
        });
    }
    Ok(n)
}

/// `recv_drained` into `buf`'s next free chunk (a cosocket's buffer).
pub fn try_recv_drained<B: BufMut>(s: &TcpStream, buf: &mut B) -> io::Result<usize> {
    // SAFETY: `recv` only writes into the chunk, and returns how much it wrote.
    let n = recv_drained(s, unsafe { buf.chunk_mut().as_uninit_slice_mut() })?;
    // SAFETY: the kernel initialised the first n bytes of the chunk.
    unsafe { buf.advance_mut(n) };
    Ok(n)
}

/// `TcpStream::try_write` with a bare `send`.
pub fn try_send(s: &TcpStream, data: &[u8]) -> io::Result<usize> {
    let fd = s.as_raw_fd();
    s.try_io(Interest::WRITABLE, || raw::send(fd, data))
}

/// `TcpStream::try_write_vectored` with a bare `writev`.
pub fn try_writev(s: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let fd = s.as_raw_fd();
    s.try_io(Interest::WRITABLE, || raw::writev(fd, bufs))
}

/// Reads what the socket has into `buf` (see `recv_drained`), waiting for readiness.
pub fn poll_read_drained(
    s: &TcpStream,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    loop {
        ready!(s.poll_read_ready(cx))?;
        // SAFETY: `recv` only writes into the unfilled part and returns how much it wrote.
        match recv_drained(s, unsafe { buf.unfilled_mut() }) {
            Ok(n) => {
                // SAFETY: the kernel initialised the first n bytes of the unfilled part.
                unsafe { buf.assume_init(n) };
                buf.advance(n);
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
