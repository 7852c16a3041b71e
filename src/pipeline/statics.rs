//! Static files from `root`/`alias`: index, MIME types, HEAD, conditional requests, ranges.

use super::response::{special_response, Body, Response};
use super::RequestCtx;
use crate::config::LocKind;
use crate::observe::Level;
use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT_RANGES, CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED, LOCATION,
};
use http::Method;
use std::io::{Read, Seek, SeekFrom};
use std::time::UNIX_EPOCH;

mod cache;

/// Files up to this size are read into memory in one go; larger ones are streamed.
const INLINE_MAX: u64 = 256 * 1024;

/// The filesystem path for the current URI under `root` or `alias`.
pub fn map_path(ctx: &RequestCtx) -> String {
    map_uri(ctx, &ctx.uri)
}

pub fn map_uri(ctx: &RequestCtx, uri: &str) -> String {
    let mut root = ctx.conf.root.path.eval(ctx);
    let rest = if ctx.conf.root.alias {
        match ctx.location.as_ref().map(|l| &l.kind) {
            Some(LocKind::Prefix { prefix, .. }) => {
                uri.strip_prefix(prefix.as_str()).unwrap_or(uri)
            }
            Some(LocKind::Exact(_)) | Some(LocKind::Regex(_)) => "",
            _ => uri,
        }
    } else {
        uri
    };
    root.push_str(rest);
    root
}

/// What the static handler decided.
pub enum StaticOutcome {
    Response(Response),
    /// An index file exists: redirect internally to this URI.
    Index(String),
}

pub fn serve(ctx: &mut RequestCtx) -> StaticOutcome {
    // nginx: methods other than GET, HEAD and POST get 405 at once; POST gets 405 only
    // once the file is known to exist (a missing file is still a 404).
    if ctx.method != Method::GET && ctx.method != Method::HEAD && ctx.method != Method::POST {
        return StaticOutcome::Response(special_response(ctx, 405));
    }
    let path = map_path(ctx);
    if ctx.uri.ends_with('/') {
        for idx in ctx.conf.index.clone() {
            let name = idx.eval(ctx);
            // An index starting with "/" is a URI: redirect to it without a file test.
            if name.starts_with('/') {
                return StaticOutcome::Index(name);
            }
            let candidate = if name.starts_with('/') {
                map_uri(ctx, &name)
            } else {
                format!("{path}{name}")
            };
            if std::fs::metadata(&candidate).is_ok_and(|m| m.is_file()) {
                let target = if name.starts_with('/') {
                    name
                } else {
                    format!("{}{}", ctx.uri, name)
                };
                return StaticOutcome::Index(target);
            }
        }
        let code = match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => {
                ctx.log(
                    Level::Error,
                    &format!("directory index of \"{path}\" is forbidden"),
                );
                403
            }
            _ => {
                let first = ctx
                    .conf
                    .index
                    .first()
                    .map(|i| i.eval(ctx))
                    .unwrap_or_default();
                ctx.log(
                    Level::Error,
                    &format!("\"{path}{first}\" is not found (2: No such file or directory)"),
                );
                404
            }
        };
        return StaticOutcome::Response(special_response(ctx, code));
    }
    let kept = if ctx.conf.static_file_cache {
        cache::get(&path)
    } else {
        None
    };
    let (src, meta) = match kept {
        // A kept copy is of a regular file, checked just now.
        Some((body, meta)) => (Source::Kept(body), meta),
        None => match open(ctx, &path) {
            Ok((file, meta)) => (Source::Disk(file), meta),
            Err(code) => return StaticOutcome::Response(special_response(ctx, code)),
        },
    };
    if ctx.method == Method::POST && !meta.is_dir() {
        return StaticOutcome::Response(special_response(ctx, 405));
    }
    if meta.is_dir() {
        let mut r = special_response(ctx, 301);
        let mut loc = format!("{}/", encode_path(&ctx.uri));
        if let Some(a) = &ctx.args {
            loc.push('?');
            loc.push_str(a);
        }
        if let Ok(v) = HeaderValue::from_str(&loc) {
            r.headers.insert(LOCATION, v);
        }
        return StaticOutcome::Response(r);
    }
    let r = file_response(ctx, &path, src, &meta);
    ctx.filename = Some(path);
    StaticOutcome::Response(r)
}

/// open + fstat, as nginx does: one path walk (a stat and then an open walked it twice).
/// A failure is logged as nginx words it and answered with its status.
fn open(ctx: &RequestCtx, path: &str) -> Result<(std::fs::File, std::fs::Metadata), u16> {
    let opened = std::fs::File::open(path).and_then(|f| f.metadata().map(|m| (f, m)));
    opened.map_err(|e| {
        let code = match e.kind() {
            std::io::ErrorKind::PermissionDenied => 403,
            _ => 404,
        };
        if code != 404 || ctx.conf.log_not_found {
            ctx.log(
                Level::Error,
                &format!(
                    "open() \"{path}\" failed ({}: {})",
                    e.raw_os_error().unwrap_or(0),
                    crate::error::strerror(&e)
                ),
            );
        }
        code
    })
}

fn encode_path(p: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'?')
        .add(b'%')
        .add(b'<')
        .add(b'>');
    percent_encoding::utf8_percent_encode(p, SET).to_string()
}

/// Where a file's bytes come from.
enum Source {
    Disk(std::fs::File),
    /// The worker's checked copy (see `cache`).
    Kept(Bytes),
}

fn file_response(
    ctx: &mut RequestCtx,
    path: &str,
    src: Source,
    meta: &std::fs::Metadata,
) -> Response {
    let size = meta.len();
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
    let mtime_secs = mtime
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let etag = etag(mtime_secs, size);
    let mut r = Response::new(200);
    let ext = path.rsplit_once('.').map(|(_, e)| e);
    let found = ext.and_then(|e| {
        if e.bytes().any(|c| c.is_ascii_uppercase()) {
            ctx.conf.types.get(&e.to_ascii_lowercase())
        } else {
            ctx.conf.types.get(e)
        }
    });
    let ctype = found.unwrap_or(&ctx.conf.default_type);
    if let Ok(v) = HeaderValue::from_str(ctype) {
        r.headers.insert(CONTENT_TYPE, v);
    }
    if let Some(v) = last_modified(mtime_secs) {
        r.headers.insert(LAST_MODIFIED, v);
    }
    if ctx.conf.etag {
        if let Ok(v) = HeaderValue::from_str(&etag) {
            r.headers.insert(ETAG, v);
        }
    }
    const BYTES: HeaderValue = HeaderValue::from_static("bytes");
    r.headers.insert(ACCEPT_RANGES, BYTES);

    if not_modified(ctx, mtime_secs, &etag) {
        r.status = 304;
        r.headers.remove(ACCEPT_RANGES);
        return r;
    }
    let (start, len) = match ctx
        .header(http::header::RANGE)
        .map(|h| parse_range(h, size))
    {
        Some(RangeResult::Satisfiable(s, e)) => {
            r.status = 206;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {s}-{e}/{size}")) {
                r.headers.insert(CONTENT_RANGE, v);
            }
            (s, e - s + 1)
        }
        Some(RangeResult::Unsatisfiable) => {
            let mut r = special_response(ctx, 416);
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers.insert(CONTENT_RANGE, v);
            }
            return r;
        }
        Some(RangeResult::Ignore) | None => (0, size),
    };
    let mut file = match src {
        // Kept copies are whole files of at most `INLINE_MAX` bytes.
        Source::Kept(body) => {
            r.body = Body::Full(body.slice(start as usize..(start + len) as usize));
            return r;
        }
        Source::Disk(file) => file,
    };
    if ctx.method == Method::HEAD {
        // Keep the length for Content-Length without sending the bytes.
        r.body = Body::File {
            file,
            remaining: len,
        };
        return r;
    }
    if start > 0 && file.seek(SeekFrom::Start(start)).is_err() {
        return special_response(ctx, 500);
    }
    if len <= INLINE_MAX {
        // Exactly `len` bytes in one read into unzeroed room: the limit ends read_to_end
        // without a second read to find the end.
        let mut buf = Vec::with_capacity(len as usize);
        match (&mut file).take(len).read_to_end(&mut buf) {
            Ok(n) if n as u64 == len => {}
            _ => return special_response(ctx, 500),
        }
        let body = Bytes::from(buf);
        if len == size && ctx.conf.static_file_cache {
            cache::put(path, meta, &body);
        }
        r.body = Body::Full(body);
    } else {
        r.body = Body::File {
            file,
            remaining: len,
        };
    }
    r
}

/// nginx's ETag: `"<mtime hex>-<size hex>"`.
fn etag(mtime_secs: u64, size: u64) -> String {
    fn hex(out: &mut String, n: u64) {
        let mut digits = [0u8; 16];
        let mut i = digits.len();
        let mut n = n;
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[(n & 15) as usize];
            n >>= 4;
            if n == 0 {
                break;
            }
        }
        // The digits are ASCII: one copy, not a char push each.
        out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or("0"));
    }
    let mut s = String::with_capacity(36);
    s.push('"');
    hex(&mut s, mtime_secs);
    s.push('-');
    hex(&mut s, size);
    s.push('"');
    s
}

thread_local! {
    /// The last `Last-Modified` made, by mtime: most requests are for a few files.
    static LAST_MODIFIED_MEMO: std::cell::RefCell<Option<(u64, HeaderValue)>> =
        const { std::cell::RefCell::new(None) };
}

/// `Last-Modified` for a modification time in seconds.
fn last_modified(mtime_secs: u64) -> Option<HeaderValue> {
    LAST_MODIFIED_MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if let Some((t, v)) = m.as_ref() {
            if *t == mtime_secs {
                return Some(v.clone());
            }
        }
        let s = httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(mtime_secs));
        let v = HeaderValue::from_maybe_shared(Bytes::from(s)).ok()?;
        *m = Some((mtime_secs, v.clone()));
        Some(v)
    })
}

fn not_modified(ctx: &RequestCtx, mtime: u64, etag: &str) -> bool {
    if let Some(inm) = ctx.header(http::header::IF_NONE_MATCH) {
        return ctx.conf.etag
            && inm
                .split(',')
                .map(str::trim)
                .any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag));
    }
    let Some(ims) = ctx.header(http::header::IF_MODIFIED_SINCE) else {
        return false;
    };
    let Ok(t) = httpdate::parse_http_date(ims) else {
        return false;
    };
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    match ctx.conf.if_modified_since {
        crate::config::ImsMode::Off => false,
        crate::config::ImsMode::Exact => since == mtime,
        crate::config::ImsMode::Before => since >= mtime,
    }
}

enum RangeResult {
    Satisfiable(u64, u64),
    Unsatisfiable,
    /// Not a single byte range we serve: answer with the whole file.
    Ignore,
}

fn parse_range(h: &str, size: u64) -> RangeResult {
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return RangeResult::Ignore;
    };
    if spec.contains(',') {
        return RangeResult::Ignore;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeResult::Ignore;
    };
    let (a, b) = (a.trim(), b.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    let (start, end) = if a.is_empty() {
        let Some(n) = parse(b) else {
            return RangeResult::Ignore;
        };
        if n == 0 {
            return RangeResult::Unsatisfiable;
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let Some(s) = parse(a) else {
            return RangeResult::Ignore;
        };
        let e = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            match parse(b) {
                Some(e) if e >= s => e.min(size.saturating_sub(1)),
                _ => return RangeResult::Ignore,
            }
        };
        (s, e)
    };
    if start >= size || size == 0 {
        return RangeResult::Unsatisfiable;
    }
    RangeResult::Satisfiable(start, end)
}

#[cfg(test)]
mod tests {
    #[test]
    fn etags_are_nginx_hex() {
        for (t, s) in [(0u64, 0u64), (0x6b0b7a37, 0x1000), (u64::MAX, 10)] {
            assert_eq!(super::etag(t, s), format!("\"{t:x}-{s:x}\""));
        }
    }
}
