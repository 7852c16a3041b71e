//! HTTP/1 heads: parsing a request head (httparse, zero-copy into `http` types) and
//! writing a response head the way nginx spells it.

use crate::pipeline::HeaderList;
use crate::server::conn::ReqHead;
use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::{Method, Uri, Version};
use std::mem::MaybeUninit;

/// Request heads with more header lines than this are refused (nginx has no count limit,
/// only the buffer size; at 256 lines a head is far past any real client's).
const MAX_HEADERS: usize = 256;

// Moved once per request; boxing the head would cost an allocation.
#[allow(clippy::large_enum_variant)]
pub(super) enum Parsed {
    /// A whole head, taken out of the buffer.
    Complete(ReqHead, ReqFraming),
    /// More bytes are needed.
    Partial,
    /// Not HTTP/1.x, or malformed: the error.log words and the status.
    Invalid(&'static str, u16),
}

/// What the body framing headers said, noted while the head is parsed.
#[derive(Default)]
pub(super) struct ReqFraming {
    pub(super) content_lengths: u8,
    /// The last `Content-Length`, if it was a plain decimal number.
    pub(super) content_length: Option<u64>,
    pub(super) transfer_encodings: u8,
    /// The last `Transfer-Encoding` was exactly `chunked`.
    pub(super) chunked: bool,
    pub(super) expect_continue: bool,
}

/// Parses the request head at the start of `buf`; a complete one is split off it.
pub(super) fn parse(buf: &mut BytesMut) -> Parsed {
    // Empty lines before a request line are allowed (RFC 9112 2.2), as nginx does.
    let skip = buf
        .iter()
        .take_while(|&&c| c == b'\r' || c == b'\n')
        .count();
    if skip > 0 {
        buf.advance(skip);
    }
    if buf.is_empty() {
        return Parsed::Partial;
    }
    let mut slots: [MaybeUninit<httparse::Header<'_>>; MAX_HEADERS] =
        [const { MaybeUninit::uninit() }; MAX_HEADERS];
    // Offsets into the head of each header's name and value, and of the method and path.
    let mut spans = [MaybeUninit::<(u32, u32, u32, u32)>::uninit(); MAX_HEADERS];
    let base = buf.as_ptr() as usize;
    let off = |s: &[u8]| (s.as_ptr() as usize - base) as u32;
    let (len, version, method, path, count) = {
        let mut req = httparse::Request::new(&mut []);
        let len = match req.parse_with_uninit_headers(buf, &mut slots) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Parsed::Partial,
            Err(httparse::Error::TooManyHeaders) => {
                return Parsed::Invalid(
                    "client sent too many header lines while reading client request headers",
                    400,
                )
            }
            Err(_) => {
                let (msg, code) = line_error(buf);
                return Parsed::Invalid(msg, code);
            }
        };
        let (Some(m), Some(p), Some(v)) = (req.method, req.path, req.version) else {
            return Parsed::Invalid(
                "client sent invalid request while reading client request line",
                400,
            );
        };
        for (i, h) in req.headers.iter().enumerate() {
            let n = off(h.name.as_bytes());
            let v = off(h.value);
            spans[i].write((n, n + h.name.len() as u32, v, v + h.value.len() as u32));
        }
        let m = (off(m.as_bytes()), m.len());
        let p = (off(p.as_bytes()), p.len());
        (len, v, m, p, req.headers.len())
    };
    // The target and each value are copied out of the buffer, which stays the
    // connection's own. Slices of a shared buffer cost an atomic update each to take and
    // to drop, and two more for the buffer: more than the small copies, for the few
    // headers requests carry.
    let head = &buf[..len];
    let slice = |a: u32, b: u32| Bytes::copy_from_slice(&head[a as usize..b as usize]);
    let method = match Method::from_bytes(&head[method.0 as usize..method.0 as usize + method.1]) {
        Ok(m) => m,
        Err(_) => {
            return Parsed::Invalid(
                "client sent invalid method while reading client request line",
                400,
            )
        }
    };
    let uri = match Uri::from_maybe_shared(slice(path.0, path.0 + path.1 as u32)) {
        Ok(u) => u,
        Err(_) => {
            return Parsed::Invalid(
                "client sent invalid request while reading client request line",
                400,
            )
        }
    };
    let mut headers = HeaderList::with_capacity(count);
    let mut framing = ReqFraming::default();
    for span in &spans[..count] {
        // SAFETY: the first `count` spans were written above.
        let (n0, n1, v0, v1) = unsafe { span.assume_init() };
        let Ok(name) = crate::http1::header_name(&head[n0 as usize..n1 as usize]) else {
            return Parsed::Invalid(
                "client sent invalid header line while reading client request headers",
                400,
            );
        };
        let Ok(value) = crate::http1::parsed_header_value(slice(v0, v1)) else {
            return Parsed::Invalid(
                "client sent invalid header line while reading client request headers",
                400,
            );
        };
        if name == http::header::CONTENT_LENGTH {
            framing.content_lengths = framing.content_lengths.saturating_add(1);
            framing.content_length = crate::http1::content_length(value.as_bytes());
        } else if name == http::header::TRANSFER_ENCODING {
            framing.transfer_encodings = framing.transfer_encodings.saturating_add(1);
            framing.chunked = value
                .as_bytes()
                .trim_ascii()
                .eq_ignore_ascii_case(b"chunked");
        } else if name == http::header::EXPECT {
            framing.expect_continue = value.as_bytes().eq_ignore_ascii_case(b"100-continue");
        }
        headers.append(name, value);
    }
    let version = if version == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    buf.advance(len);
    Parsed::Complete(
        ReqHead {
            method,
            uri,
            version,
            headers,
        },
        framing,
    )
}

/// What nginx would say of a head httparse refused: the request line's fault or a header's.
fn line_error(buf: &[u8]) -> (&'static str, u16) {
    let line = buf.split(|&c| c == b'\n').next().unwrap_or(b"");
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut words = line.split(|&c| c == b' ');
    let method = words.next().unwrap_or(b"");
    if method.is_empty()
        || !method
            .iter()
            .all(|&c| c.is_ascii_uppercase() || c == b'_' || c == b'-')
        || line.len() == method.len()
    {
        return (
            "client sent invalid method while reading client request line",
            400,
        );
    }
    let target = words.next().unwrap_or(b"");
    let version = words.next().unwrap_or(b"");
    if let Some(v) = version.strip_prefix(b"HTTP/") {
        if v.first().is_some_and(|&c| (b'2'..=b'9').contains(&c)) && words.next().is_none() {
            return (
                "client sent unsupported HTTP version while reading client request line",
                505,
            );
        }
    }
    if target.is_empty() || !version.starts_with(b"HTTP/1.") || words.next().is_some() {
        return (
            "client sent invalid request while reading client request line",
            400,
        );
    }
    (
        "client sent invalid header line while reading client request headers",
        400,
    )
}

/// The headers nginx's header filter writes itself, in its order, before all others
/// (`ngx_http_header_filter`): their slots in [`Front`].
pub(super) mod slot {
    pub const SERVER: usize = 0;
    pub const DATE: usize = 1;
    pub const CONTENT_TYPE: usize = 2;
    pub const CONTENT_LENGTH: usize = 3;
    pub const LAST_MODIFIED: usize = 4;
    pub const LOCATION: usize = 5;
    pub const TRANSFER_ENCODING: usize = 6;
    pub const CONNECTION: usize = 7;
    pub const KEEP_ALIVE: usize = 8;
}

/// The names of the slots as written (no casing work for these).
pub(super) const FRONT_NAMES: [&[u8]; 9] = [
    b"Server: ",
    b"Date: ",
    b"Content-Type: ",
    b"Content-Length: ",
    b"Last-Modified: ",
    b"Location: ",
    b"Transfer-Encoding: ",
    b"Connection: ",
    b"Keep-Alive: ",
];

/// Writes the header of `slot` with `value`.
pub(super) fn write_front(out: &mut Vec<u8>, slot: usize, value: &[u8]) {
    out.extend_from_slice(FRONT_NAMES[slot]);
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn front_slot(name: &HeaderName) -> Option<usize> {
    use slot::*;
    // Lower case, as `HeaderName`s are: a plain compare (a case-blind one against
    // `FRONT_NAMES` cost some 400 instructions a response). The unit test checks that the
    // two tables agree.
    const LOWER: [&[u8]; 9] = [
        b"server",
        b"date",
        b"content-type",
        b"content-length",
        b"last-modified",
        b"location",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
    ];
    // Every response header passes here: the length picks the one name to compare.
    let s = name.as_str().as_bytes();
    let slot = match s.len() {
        4 => DATE,
        6 => SERVER,
        8 => LOCATION,
        10 if s[0] == b'c' => CONNECTION,
        10 => KEEP_ALIVE,
        12 => CONTENT_TYPE,
        13 => LAST_MODIFIED,
        14 => CONTENT_LENGTH,
        17 => TRANSFER_ENCODING,
        _ => return None,
    };
    (s == LOWER[slot]).then_some(slot)
}

/// Where the first of each of nginx's own headers is in a response's header list; the
/// head is written as nginx writes it: those first, in their order, then the rest as set.
pub(super) struct Front<'a> {
    headers: &'a [(HeaderName, HeaderValue)],
    idx: [u32; 9],
    /// A second `Connection` or `Keep-Alive`: the server writes those once, itself.
    repeats: bool,
}

impl<'a> Front<'a> {
    pub(super) fn scan(headers: &'a [(HeaderName, HeaderValue)]) -> Front<'a> {
        let mut idx = [u32::MAX; 9];
        let mut repeats = false;
        for (i, (n, _)) in headers.iter().enumerate() {
            if let Some(s) = front_slot(n) {
                if idx[s] == u32::MAX {
                    idx[s] = i as u32;
                } else {
                    repeats |= s == slot::CONNECTION || s == slot::KEEP_ALIVE;
                }
            }
        }
        Front {
            headers,
            idx,
            repeats,
        }
    }

    /// The value of the header in `slot`.
    pub(super) fn get(&self, slot: usize) -> Option<&'a HeaderValue> {
        let i = self.idx[slot];
        (i != u32::MAX).then(|| &self.headers[i as usize].1)
    }

    /// Writes the header in `slot`, if set.
    pub(super) fn write(&self, out: &mut Vec<u8>, slot: usize) {
        let i = self.idx[slot];
        if i != u32::MAX {
            write_front(out, slot, self.headers[i as usize].1.as_bytes());
        }
    }

    /// Writes the other headers, in order (without repeats of `Connection` and
    /// `Keep-Alive`).
    pub(super) fn write_rest(&self, out: &mut Vec<u8>) {
        for (i, (n, v)) in self.headers.iter().enumerate() {
            if self.idx.contains(&(i as u32))
                || (self.repeats
                    && matches!(front_slot(n), Some(slot::CONNECTION | slot::KEEP_ALIVE)))
            {
                continue;
            }
            write_header(out, n, v.as_bytes());
        }
    }
}

/// Writes a header name as nginx sends it: its own headers in their usual spelling, the
/// others in title case (`x-foo` goes out as `X-Foo`: `http` keeps names lowercase); with
/// the `: ` after it, one copy less per header.
pub(super) fn write_name(out: &mut Vec<u8>, name: &HeaderName) {
    let s = name.as_str().as_bytes();
    let fixed: &[u8] = match s {
        // The common ones spelled out: cheaper than casing them byte by byte.
        b"server" => b"Server: ",
        b"date" => b"Date: ",
        b"content-type" => b"Content-Type: ",
        b"content-length" => b"Content-Length: ",
        b"connection" => b"Connection: ",
        b"last-modified" => b"Last-Modified: ",
        b"accept-ranges" => b"Accept-Ranges: ",
        b"location" => b"Location: ",
        b"cache-control" => b"Cache-Control: ",
        b"content-encoding" => b"Content-Encoding: ",
        b"transfer-encoding" => b"Transfer-Encoding: ",
        b"keep-alive" => b"Keep-Alive: ",
        b"vary" => b"Vary: ",
        b"expires" => b"Expires: ",
        b"set-cookie" => b"Set-Cookie: ",
        b"etag" => b"ETag: ",
        b"www-authenticate" => b"WWW-Authenticate: ",
        b"content-md5" => b"Content-MD5: ",
        b"x-xss-protection" => b"X-XSS-Protection: ",
        _ => {
            let start = out.len();
            out.extend_from_slice(s);
            let mut up = true;
            for c in &mut out[start..] {
                if up {
                    c.make_ascii_uppercase();
                }
                up = *c == b'-';
            }
            out.extend_from_slice(b": ");
            return;
        }
    };
    out.extend_from_slice(fixed);
}

/// The status line: nginx answers every HTTP/1.x request with `HTTP/1.1`, and uses its own
/// reason phrases where they differ ("Moved Temporarily").
pub(super) fn write_status(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    let mut code = [b'0'; 3];
    code[0] += (status / 100 % 10) as u8;
    code[1] += (status / 10 % 10) as u8;
    code[2] += (status % 10) as u8;
    out.extend_from_slice(&code);
    out.push(b' ');
    let reason = match crate::pipeline::reason(status) {
        "" => http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or(""),
        r => r,
    };
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A number in decimal.
pub(super) fn write_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

pub(super) fn write_header(out: &mut Vec<u8>, name: &HeaderName, value: &[u8]) {
    write_name(out, name);
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

thread_local! {
    /// `Date` for the current second, rendered once per second per worker.
    static DATE: std::cell::RefCell<(u64, [u8; 29])> = const { std::cell::RefCell::new((0, [0; 29])) };
}

/// The `Date` header value of now (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(super) fn with_date<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    // The coarse clock: a full clock read per response cost more than the rest of this.
    let secs = crate::clock::coarse_unix_secs();
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs {
            let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            let s = httpdate::fmt_http_date(now);
            if s.len() == 29 {
                d.1.copy_from_slice(s.as_bytes());
                d.0 = secs;
            }
        }
        f(&d.1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> (Option<ReqHead>, Vec<u8>) {
        let mut b = BytesMut::from(s.as_bytes());
        match parse(&mut b) {
            Parsed::Complete(p, _) => (Some(p), b.to_vec()),
            Parsed::Partial => (None, b.to_vec()),
            Parsed::Invalid(e, _) => panic!("{e}"),
        }
    }

    #[test]
    fn a_head_parses_and_leaves_the_body() {
        let (p, rest) = parse_str(
            "\r\nPOST /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2\r\n\r\nhi",
        );
        let p = p.unwrap();
        assert_eq!(p.method, Method::POST);
        assert_eq!(p.uri.path(), "/a/b");
        assert_eq!(p.uri.query(), Some("x=1"));
        assert_eq!(p.version, Version::HTTP_11);
        assert_eq!(p.headers.get_all("x-a").count(), 2);
        assert_eq!(p.headers.get("host").unwrap(), "h");
        assert_eq!(rest, b"hi");
    }

    #[test]
    fn partial_and_invalid_heads() {
        assert!(parse_str("GET / HTTP/1.1\r\nHost: h\r\n").0.is_none());
        let mut b = BytesMut::from(&b"GET / HTTP/1.1\r\nX@Bad: 1\r\n\r\n"[..]);
        assert!(matches!(parse(&mut b), Parsed::Invalid(..)));
        let mut b = BytesMut::from(&b"GET / HTTP/2.0\r\n\r\n"[..]);
        assert!(matches!(parse(&mut b), Parsed::Invalid(..)));
    }

    #[test]
    fn nginxs_own_headers_have_their_slots() {
        let names = [
            "server",
            "date",
            "content-type",
            "content-length",
            "last-modified",
            "location",
            "transfer-encoding",
            "connection",
            "keep-alive",
        ];
        for (i, n) in names.iter().enumerate() {
            assert_eq!(front_slot(&HeaderName::from_static(n)), Some(i), "{n}");
            let written = FRONT_NAMES[i].to_ascii_lowercase();
            assert_eq!(written, format!("{n}: ").as_bytes());
        }
        for n in [
            "etag",
            "x-foo",
            "accept-ranges",
            "set-cookie",
            "cache-control",
        ] {
            assert_eq!(front_slot(&HeaderName::from_static(n)), None, "{n}");
        }
    }

    #[test]
    fn connection_and_keep_alive_are_written_once() {
        let h = |n: &'static str, v: &'static str| {
            (HeaderName::from_static(n), HeaderValue::from_static(v))
        };
        let list = [
            h("connection", "keep-alive"),
            h("x-a", "1"),
            h("connection", "close"),
            h("keep-alive", "timeout=5"),
            h("keep-alive", "timeout=6"),
            h("server", "s"),
            h("server", "t"),
        ];
        let front = Front::scan(&list);
        let mut out = Vec::new();
        front.write_rest(&mut out);
        // Another repeated header of nginx's own set stays, as before.
        assert_eq!(out, b"X-A: 1\r\nServer: t\r\n");
        assert_eq!(
            front.get(slot::CONNECTION).map(|v| v.as_bytes()),
            Some(&b"keep-alive"[..])
        );
    }

    #[test]
    fn names_are_written_as_nginx_spells_them() {
        let mut out = Vec::new();
        for n in ["content-type", "etag", "x-my-header", "www-authenticate"] {
            write_name(&mut out, &HeaderName::from_static(n));
        }
        assert_eq!(out, b"Content-Type: ETag: X-My-Header: WWW-Authenticate: ");
        let mut s = Vec::new();
        write_status(&mut s, 302);
        write_status(&mut s, 299);
        assert_eq!(s, b"HTTP/1.1 302 Moved Temporarily\r\nHTTP/1.1 299 \r\n");
    }
}
