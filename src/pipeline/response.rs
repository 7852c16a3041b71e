//! Responses: the body type, nginx's built-in error pages and the header filter.

use super::RequestCtx;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use std::sync::Arc;

/// A response body.
pub enum Body {
    Empty,
    Full(Bytes),
    /// A file region, read in chunks as the client takes it.
    File {
        file: std::fs::File,
        remaining: u64,
    },
    /// A body produced as it is sent (a proxied response).
    Stream(StreamBody),
}

/// A streamed body; errors end the response early (the connection is then closed).
pub type StreamBody =
    std::pin::Pin<Box<dyn hyper::body::Body<Data = Bytes, Error = std::io::Error>>>;

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Full(b) => b.len() as u64,
            Body::File { remaining, .. } => *remaining,
            Body::Stream(s) => s.size_hint().exact().unwrap_or(0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads the whole body into memory, keeping at most `max` bytes. A stream that
    /// fails part way gives what arrived before the failure.
    pub async fn into_bytes(self, max: u64) -> Bytes {
        match self {
            Body::Empty => Bytes::new(),
            Body::Full(b) => b,
            Body::File {
                mut file,
                remaining,
            } => {
                use std::io::Read;
                let mut buf = Vec::with_capacity(remaining.min(max) as usize);
                let _ = (&mut file).take(remaining.min(max)).read_to_end(&mut buf);
                Bytes::from(buf)
            }
            Body::Stream(mut s) => {
                use http_body_util::BodyExt;
                let mut buf = bytes::BytesMut::new();
                while let Some(Ok(frame)) = s.frame().await {
                    if let Ok(d) = frame.into_data() {
                        let room = (max as usize).saturating_sub(buf.len());
                        buf.extend_from_slice(&d[..d.len().min(room)]);
                    }
                }
                buf.freeze()
            }
        }
    }
}

/// What the pipeline answers.
pub struct Response {
    pub status: u16,
    pub headers: super::HeaderList,
    pub body: Body,
    /// Close the connection without answering (`return 444`).
    pub drop_connection: bool,
    /// A status-only answer (nginx's "special response"): `error_page` may replace it.
    pub special: bool,
    /// Send `Location` exactly as set (Lua's), not made absolute.
    pub keep_location: bool,
    /// Keep the `Server` header the handler set (`proxy_pass_header Server`).
    pub keep_server: bool,
    /// Where encoded forms of this (fixed) body are remembered, e.g. a cache entry's.
    pub memo: Option<Arc<dyn CompressMemo>>,
    /// The body's length is not known ahead (a Lua handler's output, which nginx sends
    /// chunked): a HEAD answer then states no `Content-Length`.
    pub unknown_length: bool,
}

/// Remembers encoded forms of a body that does not change (a cached entry), so each
/// coding is computed once.
pub trait CompressMemo: Send + Sync {
    fn get(&self, coding: &str, level: i32) -> Option<Bytes>;
    fn put(&self, coding: &str, level: i32, data: Bytes);
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: super::HeaderList::new(),
            body: Body::Empty,
            drop_connection: false,
            special: false,
            keep_location: false,
            keep_server: false,
            memo: None,
            unknown_length: false,
        }
    }
}

/// The reason phrase nginx uses.
pub fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        494 => "Request Header Or Cookie Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "",
    }
}

const SERVER_FULL: &str = concat!("openclaw/", env!("CARGO_PKG_VERSION"));

/// The `Server` header / page footer text.
pub fn server_string(tokens: bool) -> &'static str {
    if tokens {
        SERVER_FULL
    } else {
        "openclaw"
    }
}

/// nginx's built-in HTML page for an error or redirect status.
pub fn special_page(code: u16, tokens: bool) -> Option<Bytes> {
    if code < 300 || code == 304 {
        return None;
    }
    // nginx's TLS errors: a 400 page with the reason under the heading.
    let tls_reason = match code {
        495 => Some("The SSL certificate error"),
        496 => Some("No required SSL certificate was sent"),
        497 => Some("The plain HTTP request was sent to HTTPS port"),
        _ => None,
    };
    if let Some(why) = tls_reason {
        let body = format!(
            "<html>\r\n<head><title>400 {why}</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>{why}</center>\r\n<hr><center>{}</center>\r\n</body>\r\n</html>\r\n",
            server_string(tokens)
        );
        return Some(Bytes::from(body));
    }
    let title = match code {
        494 => "400 Request Header Or Cookie Too Large".to_string(),
        // nginx's pages say "Found" and "Authorization Required" where its status
        // lines say "Moved Temporarily" and "Unauthorized".
        302 => "302 Found".to_string(),
        401 => "401 Authorization Required".to_string(),
        _ => {
            let r = reason(code);
            if r.is_empty() {
                return None;
            }
            format!("{code} {r}")
        }
    };
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>{}</center>\r\n</body>\r\n</html>\r\n",
        server_string(tokens)
    );
    Some(Bytes::from(body))
}

/// A response with nginx's page for `code` (or an empty body where nginx has none).
pub fn special_response(ctx: &RequestCtx, code: u16) -> Response {
    let mut r = Response::new(code);
    r.special = true;
    if let Some(page) = special_page(code, ctx.conf.server_tokens) {
        r.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
        r.body = Body::Full(page);
    }
    r
}

/// `add_header` applies to these statuses unless `always` is given.
fn add_header_applies(code: u16) -> bool {
    matches!(
        code,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    )
}

/// The header filter: Server, add_header, absolute Location, Content-Length.
pub fn header_filter(ctx: &mut RequestCtx, resp: &mut Response) {
    ctx.status = resp.status;
    if let Some(early) = ctx.early_headers.take() {
        // The content handler's own headers (an upstream's, say) win over earlier ones.
        resp.headers.append_missing(early);
    }
    let conf = ctx.conf;
    if let (Some(chunk), Some(engine)) = (&conf.lua.header_filter, &ctx.gen.engine) {
        // (Cloned only here: an Arc clone is an atomic update.)
        let engine = engine.clone();
        engine.run_sync(super::Phase::HeaderFilter, chunk, ctx, Some(resp));
        ctx.status = resp.status;
    }
    if !(resp.keep_server && resp.headers.contains_key(http::header::SERVER)) {
        // Constants: `from_static` outside a const checks every byte on each call.
        const FULL: HeaderValue = HeaderValue::from_static(SERVER_FULL);
        const SHORT: HeaderValue = HeaderValue::from_static("openclaw");
        let server = if conf.server_tokens { FULL } else { SHORT };
        resp.headers.insert(http::header::SERVER, server);
    }
    if let Some(loc) = resp.headers.get(LOCATION).and_then(|v| v.to_str().ok()) {
        if loc.starts_with('/') && conf.absolute_redirect && !resp.keep_location {
            let host = if conf.server_name_in_redirect {
                ctx.server.first_name.clone()
            } else {
                ctx.host.clone()
            };
            let port = ctx.conn.local.port();
            let scheme = ctx.scheme();
            let default_port = if scheme == "https" { 443 } else { 80 };
            let port = if conf.port_in_redirect && port != default_port {
                format!(":{port}")
            } else {
                String::new()
            };
            let abs = format!("{scheme}://{host}{port}{loc}");
            if let Ok(v) = HeaderValue::from_str(&abs) {
                resp.headers.insert(LOCATION, v);
            }
        }
    }
    // headers-more's filter runs before add_header's, as in nginx (add_header then appends).
    if !conf.more_headers.is_empty() {
        super::more_headers::output(ctx, resp);
    }
    if !conf.add_headers.is_empty() {
        let applies = add_header_applies(resp.status);
        // Values may read $sent_http_*; expose the headers so far.
        ctx.resp_headers = resp.headers.clone();
        for h in conf.add_headers.iter() {
            if !applies && !h.always {
                continue;
            }
            let v = h.value.eval(ctx);
            if v.is_empty() {
                continue;
            }
            if let (Ok(name), Ok(val)) = (
                http::header::HeaderName::from_bytes(h.name.as_bytes()),
                HeaderValue::from_str(&v),
            ) {
                resp.headers.append(name, val);
            }
        }
    }
    // The server writes Content-Length from the body's exact size; HEAD answers carry no body,
    // so they state the length of the body they stand for themselves.
    if ctx.method == http::Method::HEAD
        && !resp.unknown_length
        && !resp.headers.contains_key(CONTENT_LENGTH)
        && resp.status != 204
        && resp.status != 304
        && !(100..200).contains(&resp.status)
    {
        resp.headers
            .insert(CONTENT_LENGTH, HeaderValue::from(resp.body.len()));
    }
    // Keep a copy for `$sent_http_*` in the log phase only when something will log.
    if !conf.access_logs.is_empty() {
        ctx.resp_headers = resp.headers.clone();
    }
}
