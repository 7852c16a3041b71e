//! OpenClaw's HTTP/1.x server side: one connection's request loop. Heads are parsed with
//! httparse straight into `http` types, responses are written in one vectored write where
//! they can be (head and body together), with nginx's header spelling, `Date`, framing
//! (`Content-Length`, chunked, or close-delimited for HTTP/1.0) and keep-alive rules.
//! HTTP/2 stays with hyper (`conn.rs`).
//!
//! Timeouts: `client_header_timeout` for a head (the first one from the connection's
//! start, later ones from their first byte), `keepalive_timeout` while idle between
//! requests, `send_timeout` for each write that waits. One timer per connection serves
//! the head and idle deadlines: it is re-armed only when it fires early, not per request.

mod head;
mod recv;

use super::body::OutBody;
use super::conn::{respond, Limits, Reply};
use super::Current;
use crate::observe::Level;
use crate::pipeline::{ConnInfo, OnUpgrade, ReqBody};
use bytes::Bytes;
use head::Parsed;
use http::header::{CONNECTION, CONTENT_LENGTH, SERVER, UPGRADE};
use http::{Method, Version};
use hyper::body::Body;
use recv::{BodyState, Chunk, RecvBody, Shared};
use std::cell::RefCell;
use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// How long a write may wait before the connection is closed, where no location's
/// `send_timeout` applies (nginx's default).
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves HTTP/1.x requests on `io` until the connection ends.
pub(super) async fn serve<S>(io: S, conn: Rc<ConnInfo>, current: Current, limits: Limits)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let shared = Rc::new(RefCell::new(Shared::new(io)));
    let _ = conn
        .takeover
        .set(shared.clone() as Rc<dyn crate::pipeline::Takeover>);
    let mut wbuf: Vec<u8> = Vec::with_capacity(1024);
    let mut timer = Timer::new(limits.header_timeout);
    // Idle between requests, it may be closed to make room (worker_connections).
    let slot = super::reuse::Slot::enter();
    let mut served = 0u64;
    loop {
        if served > 0 {
            shared.borrow_mut().release_idle();
        }
        timer.expect(if served == 0 {
            limits.header_timeout
        } else {
            limits.idle
        });
        let read = read_head(&shared, &limits, &mut timer, &slot).await;
        let (parts, facts) = match read {
            HeadRead::Head(p, f) => (p, f),
            HeadRead::Closed => break,
            HeadRead::TimedOut => {
                if served == 0 || !shared.borrow().rbuf.is_empty() {
                    log_conn(
                        &conn,
                        "client timed out (110: Connection timed out) while reading client request headers",
                    );
                }
                break;
            }
            HeadRead::Invalid(msg, code) => {
                log_conn(&conn, msg);
                refuse(&shared, &mut wbuf, code, limits.server_tokens).await;
                break;
            }
        };
        served += 1;
        let head_only = parts.method == Method::HEAD;
        let version = parts.version;
        let (state, expect) = match framing(&facts) {
            Ok(f) => f,
            Err((msg, code)) => {
                log_conn(&conn, msg);
                refuse(&shared, &mut wbuf, code, limits.server_tokens).await;
                break;
            }
        };
        shared.borrow_mut().start_body(state, expect);
        let body = if state == BodyState::Done {
            ReqBody::Empty
        } else {
            ReqBody::Stream(Box::pin(RecvBody {
                shared: shared.clone(),
            }))
        };
        let (upgrade_tx, on_upgrade) = if parts.headers.contains_key(UPGRADE) {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (Some(tx), Some(OnUpgrade::Own(rx)))
        } else {
            (None, None)
        };
        // Boxed: the request's state lives in an allocation of its own while it runs,
        // not in the connection's task, which then stays small while idle (a kept-alive
        // connection waiting for its next request holds no request state).
        // (Allocated first and written in place: `Box::pin(respond(..))` made the future on
        // the stack and copied all of it, some 5 KB, into the box.)
        let place = Box::new_uninit();
        let responding = Box::into_pin(Box::write(
            place,
            respond(&current, &conn, parts, body, on_upgrade),
        ));
        // (Nothing is held back while a request runs but what was before it.)
        let reply = if shared.borrow().has_pending() {
            let mut responding = responding;
            std::future::poll_fn(|cx| {
                let r = responding.as_mut().poll(cx);
                if r.is_pending() {
                    // This request waits (on its body, an upstream, a timer): the
                    // responses held back for it go out meanwhile.
                    let mut sh = shared.borrow_mut();
                    if sh.has_pending() {
                        let _ = sh.poll_send_pending(cx);
                    }
                }
                r
            })
            .await
        } else {
            responding.await
        };
        let Some(reply) = reply else {
            break;
        };
        if shared.borrow().taken {
            // The handler wrote its own response on the connection; it ends with it.
            drop(reply);
            break;
        }
        let status = reply.status;
        let keep = write_response(&shared, &mut wbuf, reply, head_only, version, &conn).await;
        if status == 101 {
            if let Some(tx) = upgrade_tx {
                // The tunnel or `ngx.req.socket(true)` owns the connection from here.
                let _ = tx.send(crate::pipeline::Takeover::take(shared.clone()));
                return;
            }
        }
        if !keep || super::reuse::stopping() {
            break;
        }
        // A body the handler left unread is read and dropped, as nginx discards it, so the
        // next request starts where it should.
        let unread = {
            let sh = shared.borrow();
            sh.body != BodyState::Done
        };
        if unread {
            if shared.borrow().continue_unsent() {
                break;
            }
            timer.expect(limits.idle.min(Duration::from_secs(5)));
            let drained = std::future::poll_fn(|cx| {
                if let Poll::Ready(done) = shared.borrow_mut().poll_discard(cx) {
                    return Poll::Ready(done);
                }
                if timer.poll_expired(cx).is_ready() {
                    return Poll::Ready(false);
                }
                Poll::Pending
            })
            .await;
            if !drained {
                break;
            }
        }
    }
    if shared.borrow().has_pending() {
        let timeout = shared.borrow().pending_timeout;
        let _ = write_all(&shared, &mut [], timeout).await;
    }
    let _ =
        std::future::poll_fn(|cx| Pin::new(&mut shared.borrow_mut().io).poll_shutdown(cx)).await;
}

fn log_conn(conn: &ConnInfo, msg: &str) {
    let line = format!(
        "{msg}, client: {}, server: {}",
        conn.remote.ip(),
        conn.listen
    );
    crate::observe::log(Level::Info, &line, None);
}

// Moved once per request; boxing the head would cost an allocation.
#[allow(clippy::large_enum_variant)]
enum HeadRead {
    Head(super::conn::ReqHead, head::ReqFraming),
    Closed,
    TimedOut,
    Invalid(&'static str, u16),
}

/// Waits for the next request head: parsed from what is buffered, else read. A graceful
/// stop ends an idle connection (no byte of a next request read yet): `slot` is woken.
async fn read_head<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Rc<RefCell<Shared<S>>>,
    limits: &Limits,
    timer: &mut Timer,
    slot: &super::reuse::Slot,
) -> HeadRead {
    let mut started = false;
    std::future::poll_fn(|cx| {
        if slot.closing() {
            return Poll::Ready(HeadRead::Closed);
        }
        let mut sh = shared.borrow_mut();
        loop {
            if !sh.rbuf.is_empty() {
                match head::parse(&mut sh.rbuf) {
                    Parsed::Complete(p, f) => {
                        slot.busy();
                        return Poll::Ready(HeadRead::Head(p, f));
                    }
                    Parsed::Invalid(msg, code) => return Poll::Ready(HeadRead::Invalid(msg, code)),
                    Parsed::Partial => {}
                }
                if sh.rbuf.len() > limits.max_header {
                    return Poll::Ready(HeadRead::Invalid(
                        "client sent too long header line while reading client request headers",
                        494,
                    ));
                }
            }
            // Held-back responses go out before a wait for more of the next head.
            if sh.has_pending() {
                if let Poll::Ready(Err(_)) = sh.poll_send_pending(cx) {
                    return Poll::Ready(HeadRead::Closed);
                }
            }
            match sh.poll_fill(cx) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(HeadRead::Closed),
                Poll::Ready(Ok(_)) => continue,
                Poll::Pending => break,
            }
        }
        if sh.rbuf.is_empty() {
            if super::reuse::stopping() {
                return Poll::Ready(HeadRead::Closed);
            }
            slot.idle(cx.waker());
        } else if !started {
            slot.busy();
            // Part of a kept-alive connection's next head: the head now has
            // client_header_timeout.
            started = true;
            timer.expect(limits.header_timeout);
        }
        if timer.poll_expired(cx).is_ready() {
            return Poll::Ready(HeadRead::TimedOut);
        }
        Poll::Pending
    })
    .await
}

/// The body's framing from the request headers, and whether `100 Continue` is expected.
fn framing(f: &head::ReqFraming) -> Result<(BodyState, bool), (&'static str, u16)> {
    if f.transfer_encodings > 0 {
        // `respond` refuses Content-Length with Transfer-Encoding; only "chunked" is known.
        if f.transfer_encodings > 1 || !f.chunked {
            return Err((
                "client sent unknown \"Transfer-Encoding\" while reading client request headers",
                501,
            ));
        }
        return Ok((BodyState::Chunked(Chunk::Size), f.expect_continue));
    }
    match (f.content_lengths, f.content_length) {
        (0, _) => Ok((BodyState::Done, false)),
        (1, Some(n)) if n > 0 => Ok((BodyState::Length(n), f.expect_continue)),
        (1, Some(_)) => Ok((BodyState::Done, false)),
        _ => Err((
            "client sent invalid \"Content-Length\" header while reading client request headers",
            400,
        )),
    }
}

/// Answers a request that never reached the pipeline (malformed) with nginx's page, and
/// closes.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Rc<RefCell<Shared<S>>>,
    wbuf: &mut Vec<u8>,
    code: u16,
    tokens: bool,
) {
    let page = crate::pipeline::special_page(code, tokens).unwrap_or_default();
    wbuf.clear();
    head::write_status(wbuf, if code == 494 { 400 } else { code });
    head::write_header(
        wbuf,
        &SERVER,
        crate::pipeline::server_string(tokens).as_bytes(),
    );
    head::with_date(|d| head::write_header(wbuf, &http::header::DATE, d));
    head::write_header(wbuf, &http::header::CONTENT_TYPE, b"text/html");
    head::write_header(wbuf, &CONTENT_LENGTH, page.len().to_string().as_bytes());
    head::write_header(wbuf, &CONNECTION, b"close");
    wbuf.extend_from_slice(b"\r\n");
    let _ = write_all(shared, &mut [wbuf.as_slice(), &page], SEND_TIMEOUT).await;
}

/// How the response body is delimited.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes (HTTP/1.0 with no length).
    Close,
}

/// Writes the response; whether the connection may serve another request.
async fn write_response<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Rc<RefCell<Shared<S>>>,
    wbuf: &mut Vec<u8>,
    reply: Reply,
    head_only: bool,
    version: Version,
    conn: &ConnInfo,
) -> bool {
    let Reply {
        status,
        headers,
        body,
        send_timeout,
    } = reply;
    let mut out = body;
    // The framing and the connection's fate are settled first; then the head is written in
    // nginx's order: its own headers, then the others as they were set.
    let front = head::Front::scan(headers.as_slice());
    let connection = front.get(head::slot::CONNECTION);
    // (A 101's `Connection: upgrade` is passed as it is.)
    let mut keep =
        status == 101 || connection.is_none_or(|v| !v.as_bytes().eq_ignore_ascii_case(b"close"));
    let length = front
        .get(head::slot::CONTENT_LENGTH)
        .map(|v| crate::http1::content_length(v.as_bytes()));
    let chunked = front
        .get(head::slot::TRANSFER_ENCODING)
        .is_some_and(|v| v.as_bytes().ends_with(b"chunked"));
    let no_body = head_only || status == 204 || status == 304 || (100..200).contains(&status);
    let mut add_length = None;
    let mut add_chunked = false;
    let framing = if no_body {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(len) = length {
        len.map_or(Framing::Close, Framing::Length)
    } else if let Some(n) = out.size_hint().exact() {
        add_length = Some(n);
        Framing::Length(n)
    } else if version == Version::HTTP_11 {
        add_chunked = true;
        Framing::Chunked
    } else {
        Framing::Close
    };
    if framing == Framing::Close {
        keep = false;
    }
    wbuf.clear();
    head::write_status(wbuf, status);
    front.write(wbuf, head::slot::SERVER);
    match front.get(head::slot::DATE) {
        Some(d) => head::write_front(wbuf, head::slot::DATE, d.as_bytes()),
        None => head::with_date(|d| head::write_front(wbuf, head::slot::DATE, d)),
    }
    front.write(wbuf, head::slot::CONTENT_TYPE);
    front.write(wbuf, head::slot::CONTENT_LENGTH);
    if let Some(n) = add_length {
        wbuf.extend_from_slice(head::FRONT_NAMES[head::slot::CONTENT_LENGTH]);
        head::write_u64(wbuf, n);
        wbuf.extend_from_slice(b"\r\n");
    }
    front.write(wbuf, head::slot::LAST_MODIFIED);
    front.write(wbuf, head::slot::LOCATION);
    front.write(wbuf, head::slot::TRANSFER_ENCODING);
    if add_chunked {
        head::write_front(wbuf, head::slot::TRANSFER_ENCODING, b"chunked");
    }
    match connection {
        Some(v) if keep => head::write_front(wbuf, head::slot::CONNECTION, v.as_bytes()),
        Some(_) => head::write_front(wbuf, head::slot::CONNECTION, b"close"),
        None => {}
    }
    if keep {
        front.write(wbuf, head::slot::KEEP_ALIVE);
    }
    front.write_rest(wbuf);
    wbuf.extend_from_slice(b"\r\n");
    out.count_head(wbuf.len());
    if framing == Framing::None {
        drop(headers);
        let hold = keep && status >= 200;
        let whole: &[u8] = match place_whole(shared, wbuf, hold, send_timeout) {
            Placed::Held => return keep,
            Placed::Joined => &[],
            Placed::Alone => wbuf,
        };
        return write_all(shared, &mut [whole], send_timeout).await.is_ok() && keep;
    }
    drop(headers);
    let mut head_pending = true;
    let mut sent: u64 = 0;
    let mut trailers: Option<http::HeaderMap> = None;
    loop {
        let unsent = head_pending || shared.borrow().has_pending();
        let frame = next_frame(&mut out, unsent).await;
        if shared.borrow().taken {
            // The handler took the connection mid-body (`ngx.req.socket(true)` after
            // `ngx.flush`): what it writes is the rest of the response.
            return false;
        }
        let frame = match frame {
            Next::Frame(f) => f,
            Next::Pending => {
                // The body is not ready: send the head now (a client may wait on it), and
                // what was held back.
                let head: &[u8] = if head_pending { wbuf.as_slice() } else { &[] };
                if write_all(shared, &mut [head], send_timeout).await.is_err() {
                    return false;
                }
                head_pending = false;
                continue;
            }
        };
        match frame {
            None => break,
            Some(Err(_)) => {
                // The body failed part way (an upstream reset): the client sees the
                // response cut short, as nginx closes it.
                if head_pending {
                    let _ = write_all(shared, &mut [wbuf.as_slice()], send_timeout).await;
                }
                return false;
            }
            Some(Ok(frame)) => {
                let frame = match frame.into_data() {
                    Ok(d) => d,
                    Err(f) => {
                        if let Ok(t) = f.into_trailers() {
                            trailers = Some(t);
                        }
                        continue;
                    }
                };
                if frame.is_empty() {
                    continue;
                }
                let room = match framing {
                    Framing::Length(n) => n.saturating_sub(sent).min(frame.len() as u64) as usize,
                    _ => frame.len(),
                };
                // A small body goes out in the head's buffer: one segment for the kernel
                // to copy instead of two.
                let joined =
                    head_pending && room <= SMALL_BODY && matches!(framing, Framing::Length(_));
                if joined {
                    wbuf.extend_from_slice(&frame[..room]);
                }
                let head: &[u8] = if head_pending { wbuf.as_slice() } else { &[] };
                let r = match framing {
                    // Held back only whole: the declared length is all here.
                    Framing::Length(n) if joined => {
                        let hold = keep && n == room as u64;
                        match place_whole(shared, head, hold, send_timeout) {
                            Placed::Held => Ok(()),
                            Placed::Joined => write_all(shared, &mut [], send_timeout).await,
                            Placed::Alone => write_all(shared, &mut [head], send_timeout).await,
                        }
                    }
                    Framing::Chunked => {
                        let size = format!("{:x}\r\n", frame.len());
                        write_all(
                            shared,
                            &mut [head, size.as_bytes(), &frame, b"\r\n"],
                            send_timeout,
                        )
                        .await
                    }
                    Framing::Length(_) => {
                        // Never more than announced: the rest would be a next response.
                        write_all(shared, &mut [head, &frame[..room]], send_timeout).await
                    }
                    _ => write_all(shared, &mut [head, &frame], send_timeout).await,
                };
                if let Err(e) = r {
                    if e.kind() == std::io::ErrorKind::TimedOut {
                        log_conn(
                            conn,
                            "client timed out (110: Connection timed out) while sending to client",
                        );
                    }
                    return false;
                }
                sent += frame.len() as u64;
                head_pending = false;
            }
        }
    }
    let mut tail: Vec<u8> = Vec::new();
    if framing == Framing::Chunked {
        tail.extend_from_slice(b"0\r\n");
        if let Some(t) = &trailers {
            for (name, value) in t.iter() {
                head::write_header(&mut tail, name, value.as_bytes());
            }
        }
        tail.extend_from_slice(b"\r\n");
    }
    let head: &[u8] = if head_pending { wbuf.as_slice() } else { &[] };
    if (!head.is_empty() || !tail.is_empty())
        && write_all(shared, &mut [head, &tail], send_timeout)
            .await
            .is_err()
    {
        return false;
    }
    drop(out);
    match framing {
        Framing::Length(n) => keep && sent == n,
        _ => keep,
    }
}

/// Bodies up to this size are copied behind the head and written with it in one buffer.
const SMALL_BODY: usize = 2048;

/// At most this much of responses is held back behind pipelined requests.
const HOLD_BACK_MAX: usize = 16 * 1024;

/// Where a whole response goes (`place_whole`).
enum Placed {
    /// Held back behind the next pipelined request: nothing to write now.
    Held,
    /// Appended to the responses held back before it: write them all.
    Joined,
    /// Nothing is held back: write it.
    Alone,
}

/// Places a whole response; `may_hold`: it may be held back behind the next pipelined
/// request (`hold_back`). With responses held back already, it joins them so that one
/// write sends them all. `send_timeout` is the response's own.
fn place_whole<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Rc<RefCell<Shared<S>>>,
    bytes: &[u8],
    may_hold: bool,
    send_timeout: Duration,
) -> Placed {
    let hold = may_hold && hold_back(shared, bytes.len());
    let mut sh = shared.borrow_mut();
    if !hold && !sh.has_pending() {
        return Placed::Alone;
    }
    sh.pending.extend_from_slice(bytes);
    sh.pending_timeout = send_timeout;
    if hold {
        Placed::Held
    } else {
        Placed::Joined
    }
}

/// Whether a whole response of `len` bytes is held back (`Shared::pending`) rather than
/// sent: when the next request is already buffered, whole (its head's blank line is
/// there), and this request's body is read, the next response is made at once and both
/// go out in one write. A pipelining client (N requests in one write) then costs one send
/// per batch instead of one per request. Anything that would wait sends them first.
fn hold_back<S>(shared: &Rc<RefCell<Shared<S>>>, len: usize) -> bool {
    let sh = shared.borrow();
    !sh.rbuf.is_empty()
        && sh.body == BodyState::Done
        && sh.pending.len() - sh.pending_at + len <= HOLD_BACK_MAX
        && sh.rbuf.windows(4).any(|w| w == b"\r\n\r\n")
}

enum Next {
    Frame(Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>),
    /// Not ready, and the head is still unsent.
    Pending,
}

/// The body's next frame; while something is unsent (the head, held-back responses),
/// `Pending` instead of waiting.
async fn next_frame(out: &mut OutBody, unsent: bool) -> Next {
    std::future::poll_fn(|cx| match Pin::new(&mut *out).poll_frame(cx) {
        Poll::Ready(f) => Poll::Ready(Next::Frame(f)),
        Poll::Pending if unsent => Poll::Ready(Next::Pending),
        Poll::Pending => Poll::Pending,
    })
    .await
}

/// Writes all of `bufs` (vectored); a write that waits longer than `send_timeout` fails.
async fn write_all<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Rc<RefCell<Shared<S>>>,
    bufs: &mut [&[u8]],
    timeout: Duration,
) -> std::io::Result<()> {
    let mut first = 0;
    let mut skip = 0;
    let mut deadline: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        let mut sh = shared.borrow_mut();
        loop {
            // Held-back responses first (`Shared::pending`). (A whole response joins them
            // instead, and goes in the same write: see `place_whole`.)
            let r = if sh.has_pending() {
                match sh.poll_send_pending(cx) {
                    Poll::Ready(Ok(())) => {
                        deadline = None;
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            } else {
                while first < bufs.len() && skip >= bufs[first].len() {
                    skip -= bufs[first].len();
                    first += 1;
                }
                if first == bufs.len() {
                    return Poll::Ready(Ok(()));
                }
                let mut slices: [IoSlice<'_>; 4] = [IoSlice::new(&[]); 4];
                let mut n = 0;
                for (i, b) in bufs[first..].iter().enumerate().take(4) {
                    slices[i] = IoSlice::new(if i == 0 { &b[skip..] } else { b });
                    n = i + 1;
                }
                // One slice is a plain write: the kernel need not import an iovec array.
                if n == 1 {
                    Pin::new(&mut sh.io).poll_write(cx, &slices[0])
                } else {
                    Pin::new(&mut sh.io).poll_write_vectored(cx, &slices[..n])
                }
            };
            match r {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(w)) => {
                    skip += w;
                    deadline = None;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    let d = deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                    if d.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()));
                    }
                    return Poll::Pending;
                }
            }
        }
    })
    .await?;
    std::future::poll_fn(|cx| Pin::new(&mut shared.borrow_mut().io).poll_flush(cx)).await?;
    shared.borrow_mut().flush_owed = false;
    Ok(())
}

/// The connection's one timer for the head and idle deadlines. Moving the deadline is a
/// store; the sleep is re-armed only when it fires before the deadline.
struct Timer {
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// On `clock::coarse_ms`.
    deadline_ms: u64,
    /// When the sleep fires, on the same clock.
    armed_ms: u64,
    /// The waker the sleep holds: it was polled pending with it and has not fired or been
    /// reset since. Polling it again would register the waker again (two atomic updates
    /// on every wait), so a poll with the same waker only checks whether it fired.
    waiting: Option<std::task::Waker>,
}

impl Timer {
    fn new(first: Duration) -> Timer {
        let at = crate::clock::coarse_ms() + first.as_millis() as u64;
        Timer {
            sleep: Box::pin(tokio::time::sleep(first)),
            deadline_ms: at,
            armed_ms: at,
            waiting: None,
        }
    }

    /// The deadline is `wait` from now.
    fn expect(&mut self, wait: Duration) {
        self.deadline_ms = crate::clock::coarse_ms() + wait.as_millis() as u64;
        if self.deadline_ms < self.armed_ms {
            self.armed_ms = self.deadline_ms;
            self.waiting = None;
            self.sleep
                .as_mut()
                .reset(tokio::time::Instant::now() + wait);
        }
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let holds = self
                .waiting
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()));
            if holds && !self.sleep.is_elapsed() {
                return Poll::Pending;
            }
            if self.sleep.as_mut().poll(cx).is_pending() {
                if !holds {
                    self.waiting = Some(cx.waker().clone());
                }
                return Poll::Pending;
            }
            self.waiting = None;
            let now = crate::clock::coarse_ms();
            if now >= self.deadline_ms {
                return Poll::Ready(());
            }
            let left = Duration::from_millis(self.deadline_ms - now);
            self.armed_ms = self.deadline_ms;
            self.sleep
                .as_mut()
                .reset(tokio::time::Instant::now() + left);
        }
    }
}
