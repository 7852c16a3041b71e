//! The compression filter: after the header and body filters, a response the client
//! accepts in zstd, br or gzip (nginx's gzip module rules: status 200/403/404, listed
//! types, `*_min_length`, `gzip_proxied`, `gzip_disable`, `gzip_http_version`) is encoded
//! as it streams. Streamed bodies are flushed after every upstream frame, so events reach
//! the client one by one.

use super::response::Body;
use super::{RequestCtx, Response};
use crate::compress::{negotiate, Encoder, Encoding};
use crate::config::CompressConf;
use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT_ENCODING, ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE,
    ETAG, USER_AGENT, VARY,
};
use hyper::body::{Frame, SizeHint};
use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Compresses `resp` in place when the settings and the client allow it.
pub fn apply(ctx: &mut RequestCtx, resp: &mut Response) {
    if !ctx.conf.compress.any_on() {
        return;
    }
    let c = ctx.conf.compress.clone();
    let head = ctx.method == http::Method::HEAD;
    if !matches!(resp.status, 200 | 403 | 404)
        || resp.headers.contains_key(CONTENT_ENCODING)
        || (matches!(resp.body, Body::Empty) && !head)
    {
        return;
    }
    let ctype = resp
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let len: Option<u64> = match &resp.body {
        // HEAD: the length of the body it stands for (set by the header filter).
        _ if head => resp
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
        Body::Stream(_) => resp
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
        b => Some(b.len()),
    };
    let eligible: Vec<Encoding> = [
        (Encoding::Zstd, &c.zstd),
        (Encoding::Brotli, &c.brotli),
        (Encoding::Gzip, &c.gzip),
    ]
    .into_iter()
    .filter(|(_, k)| k.on && k.wants(&ctype) && len.is_none_or(|l| l >= k.min_length))
    .map(|(e, _)| e)
    .collect();
    if eligible.is_empty() {
        return;
    }
    if ctx.version == http::Version::HTTP_10 && !c.http10 {
        return;
    }
    if ctx.headers.contains_key("via") && !proxied_ok(&c, resp) {
        return;
    }
    if let Some(ua) = ctx.header(USER_AGENT) {
        if c.disable.iter().any(|r| r.is_match(ua)) {
            return;
        }
    }
    if c.vary {
        add_vary(resp);
    }
    let Some(enc) = ctx
        .header(ACCEPT_ENCODING)
        .and_then(|a| negotiate(a, &eligible))
    else {
        return;
    };
    let level = match enc {
        Encoding::Gzip => c.gzip.level,
        Encoding::Brotli => c.brotli.level,
        Encoding::Zstd => c.zstd.level,
    };
    if !head {
        let body = std::mem::replace(&mut resp.body, Body::Empty);
        resp.body = match body {
            Body::Full(b)
                if resp
                    .memo
                    .as_ref()
                    .is_some_and(|m| m.get(enc.token(), level).is_some()) =>
            {
                let memo = resp.memo.as_ref().and_then(|m| m.get(enc.token(), level));
                Body::Full(memo.unwrap_or(b))
            }
            Body::Full(b) => match crate::compress::compress_all(enc, level, &b) {
                Ok(out) => {
                    let out = Bytes::from(out);
                    if let Some(m) = &resp.memo {
                        m.put(enc.token(), level, out.clone());
                    }
                    Body::Full(out)
                }
                Err(_) => {
                    resp.body = Body::Full(b);
                    return;
                }
            },
            other => match Encoder::new(enc, level) {
                Ok(e) => {
                    let flush_each = matches!(other, Body::Stream(_));
                    Body::Stream(Box::pin(Compressed {
                        src: other,
                        enc: Some(e),
                        flush_each,
                    }))
                }
                Err(_) => {
                    resp.body = other;
                    return;
                }
            },
        };
    }
    resp.headers.remove(CONTENT_LENGTH);
    resp.headers.remove(ACCEPT_RANGES);
    resp.headers
        .insert(CONTENT_ENCODING, HeaderValue::from_static(enc.token()));
    // The bytes change: a strong validator becomes weak, as nginx does.
    if let Some(tag) = resp.headers.get(ETAG).and_then(|v| v.to_str().ok()) {
        if tag.starts_with('"') {
            if let Ok(v) = HeaderValue::from_str(&format!("W/{tag}")) {
                resp.headers.insert(ETAG, v);
            }
        }
    }
    if !ctx.conf.access_logs.is_empty() {
        ctx.resp_headers = resp.headers.clone();
    }
}

/// `gzip_proxied`: whether a response to a request that came through a proxy (`Via`) may
/// be compressed.
fn proxied_ok(c: &CompressConf, resp: &Response) -> bool {
    let cc = resp
        .headers
        .get(http::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    c.proxied.iter().any(|p| match p.as_str() {
        "any" => true,
        "expired" => resp.headers.contains_key(http::header::EXPIRES),
        "no-cache" => cc.contains("no-cache"),
        "no-store" => cc.contains("no-store"),
        "private" => cc.contains("private"),
        "no_last_modified" => !resp.headers.contains_key(http::header::LAST_MODIFIED),
        "no_etag" => !resp.headers.contains_key(ETAG),
        "auth" => false,
        _ => false,
    })
}

fn add_vary(resp: &mut Response) {
    let has = resp.headers.get_all(VARY).any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("accept-encoding"))
        })
    });
    if !has {
        resp.headers
            .append(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

/// A body encoded as it is sent.
struct Compressed {
    src: Body,
    enc: Option<Encoder>,
    /// Flush after every source frame (streams: keep events whole and prompt).
    flush_each: bool,
}

const CHUNK: u64 = 64 * 1024;

impl Compressed {
    /// The next piece of the source: Some(data), or None at its end.
    fn poll_source(&mut self, cx: &mut Context<'_>) -> Poll<Option<std::io::Result<Bytes>>> {
        match &mut self.src {
            Body::Empty => Poll::Ready(None),
            Body::Full(b) => {
                let d = std::mem::take(b);
                self.src = Body::Empty;
                Poll::Ready(Some(Ok(d)))
            }
            Body::File { file, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let mut buf = vec![0u8; (*remaining).min(CHUNK) as usize];
                match file.read(&mut buf) {
                    Ok(0) => Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "file truncated while sending",
                    )))),
                    Ok(n) => {
                        buf.truncate(n);
                        *remaining -= n as u64;
                        Poll::Ready(Some(Ok(Bytes::from(buf))))
                    }
                    Err(e) => Poll::Ready(Some(Err(e))),
                }
            }
            Body::Stream(s) => loop {
                match s.as_mut().poll_frame(cx) {
                    Poll::Ready(Some(Ok(f))) => match f.into_data() {
                        Ok(d) => return Poll::Ready(Some(Ok(d))),
                        Err(_) => continue, // trailers are dropped by the encoding
                    },
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => return Poll::Pending,
                }
            },
        }
    }
}

impl hyper::body::Body for Compressed {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        loop {
            if this.enc.is_none() {
                return Poll::Ready(None);
            }
            let polled = this.poll_source(cx);
            let Some(enc) = this.enc.as_mut() else {
                return Poll::Ready(None);
            };
            match polled {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    this.enc = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(data))) => {
                    let mut out = match enc.write(&data) {
                        Ok(o) => o,
                        Err(e) => return Poll::Ready(Some(Err(e))),
                    };
                    if this.flush_each {
                        match enc.flush() {
                            Ok(more) => out.extend(more),
                            Err(e) => return Poll::Ready(Some(Err(e))),
                        }
                    }
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                }
                Poll::Ready(None) => {
                    let Some(enc) = this.enc.take() else {
                        return Poll::Ready(None);
                    };
                    return match enc.finish() {
                        Ok(out) if !out.is_empty() => {
                            Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))))
                        }
                        Ok(_) => Poll::Ready(None),
                        Err(e) => Poll::Ready(Some(Err(e))),
                    };
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.enc.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
