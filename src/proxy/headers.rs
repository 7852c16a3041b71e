//! Headers across the proxy: what goes upstream (nginx's `proxy_set_header` defaults and
//! rules), what comes back (hidden and hop-by-hop headers), and `proxy_redirect`.

use crate::config::{ProxyConf, ProxyPass, Redirect, RedirectFrom};
use crate::pipeline::{HeaderList, RequestCtx};
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

/// What the proxy does with a header by its name.
#[derive(PartialEq, Eq)]
enum Class {
    /// Never forwarded in either direction: it describes one connection, not the message.
    HopByHop,
    /// Hidden from the client unless `proxy_pass_header` names it (nginx's list).
    Hidden,
    Plain,
}

/// A `match` on the name: one length switch and a compare, not a scan of both lists.
fn class(name: &str) -> Class {
    match name {
        "connection" | "keep-alive" | "proxy-connection" | "te" | "trailer"
        | "transfer-encoding" | "upgrade" => Class::HopByHop,
        "date" | "server" | "x-pad" | "x-accel-expires" | "x-accel-redirect"
        | "x-accel-limit-rate" | "x-accel-buffering" | "x-accel-charset" => Class::Hidden,
        _ => Class::Plain,
    }
}

/// Where the upstream request's headers go: a header map (HTTP/2), or the HTTP/1 head
/// being written ([`H1Head`]).
pub trait Sink {
    fn put(&mut self, name: &HeaderName, value: &HeaderValue);
}

impl Sink for HeaderMap {
    fn put(&mut self, name: &HeaderName, value: &HeaderValue) {
        self.append(name.clone(), value.clone());
    }
}

/// An HTTP/1 request head written header by header, noting what its framing needs.
pub struct H1Head {
    pub buf: Vec<u8>,
    /// A `Content-Length` line was written.
    pub has_length: bool,
    /// The connection closes after this request: HTTP/1.1 keeps it unless told to close,
    /// HTTP/1.0 closes it unless told to keep it.
    pub close: bool,
}

impl H1Head {
    /// Starts a head with its request line.
    pub fn new(method: &http::Method, uri: &str, http11: bool) -> H1Head {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(method.as_str().as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(uri.as_bytes());
        buf.extend_from_slice(if http11 {
            b" HTTP/1.1\r\n"
        } else {
            b" HTTP/1.0\r\n"
        });
        H1Head {
            buf,
            has_length: false,
            close: !http11,
        }
    }
}

impl Sink for H1Head {
    fn put(&mut self, name: &HeaderName, value: &HeaderValue) {
        if name == http::header::CONTENT_LENGTH {
            self.has_length = true;
        } else if name == http::header::CONNECTION {
            let has = |token: &[u8]| crate::http1::has_token(value.as_bytes(), token);
            self.close = has(b"close") || (self.close && !has(b"keep-alive"));
        }
        // Names go as stored (lower case), as hyper's client sent them.
        self.buf.extend_from_slice(name.as_str().as_bytes());
        self.buf.extend_from_slice(b": ");
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }
}

/// The headers sent upstream, into `out`. `body_len` is the buffered body's length, if
/// buffered. `extra` (a cache revalidation's conditional headers) replace the client's
/// and any `proxy_set_header` of the same names, and go last.
pub fn request_headers<S: Sink>(
    ctx: &RequestCtx,
    conf: &ProxyConf,
    proxy_host: &str,
    body_len: Option<usize>,
    extra: &[(HeaderName, HeaderValue)],
    out: &mut S,
) {
    let set = |name: &str| {
        conf.set_headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let replaced = |name: &HeaderName| extra.iter().any(|(n, _)| n == name);
    // proxy_set_header first, then nginx's defaults for what it does not name.
    for (name, value) in &conf.set_headers {
        let v = value.eval(ctx);
        if v.is_empty() {
            continue;
        }
        // Checked like any header value: a variable cannot smuggle a CR or LF in.
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            if !replaced(&n) {
                out.put(&n, &v);
            }
        }
    }
    // nginx's defaults, with typed names (no name parsing per request).
    if !set("host") && !proxy_host.is_empty() {
        if let Ok(v) = HeaderValue::from_str(proxy_host) {
            out.put(&http::header::HOST, &v);
        }
    }
    if !set("connection") {
        out.put(
            &http::header::CONNECTION,
            &HeaderValue::from_static("close"),
        );
    }
    if let Some(n) = body_len {
        if !set("content-length") {
            out.put(&http::header::CONTENT_LENGTH, &HeaderValue::from(n));
        }
    }
    if conf.pass_request_headers {
        for (k, v) in ctx.headers.iter() {
            let name = k.as_str();
            if set(name)
                || class(name) == Class::HopByHop
                || matches!(name, "host" | "expect")
                || (name == "content-length" && body_len.is_some())
                || replaced(k)
            {
                continue;
            }
            out.put(k, v);
        }
    }
    for (k, v) in extra {
        out.put(k, v);
    }
}

/// The upstream response headers the client gets.
pub fn response_headers(upstream: &HeaderList, conf: &ProxyConf, upgrade: bool) -> HeaderList {
    let mut out = HeaderList::with_capacity(upstream.len() + 4);
    for (k, v) in upstream.iter() {
        let name = k.as_str();
        if upgrade && (name == "upgrade" || name == "connection") {
            out.append(k.clone(), v.clone());
            continue;
        }
        match class(name) {
            Class::HopByHop => continue,
            Class::Hidden if !conf.pass_headers.iter().any(|p| p == name) => continue,
            _ => {}
        }
        if !conf.hide_headers.is_empty() && conf.hide_headers.iter().any(|h| h == name) {
            continue;
        }
        out.append(k.clone(), v.clone());
    }
    out
}

/// Applies `proxy_redirect` to `Location` and `Refresh`; true when `Location` changed
/// (only a rewritten one is made absolute by the header filter, as in nginx).
pub fn rewrite_redirects(ctx: &RequestCtx, pass: &ProxyPass, headers: &mut HeaderList) -> bool {
    let rules = &ctx.conf.proxy.redirects;
    if rules.is_empty() {
        return false;
    }
    let mut changed = false;
    for name in [http::header::LOCATION, HeaderName::from_static("refresh")] {
        let Some(v) = headers.get(&name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let refresh = name.as_str() == "refresh";
        // Refresh: "5; url=http://..." — only the URL part is rewritten.
        let (head, url) = if refresh {
            match v.to_ascii_lowercase().find("url=") {
                Some(i) => (v[..i + 4].to_string(), v[i + 4..].to_string()),
                None => continue,
            }
        } else {
            (String::new(), v.to_string())
        };
        if let Some(new) = apply_rules(ctx, pass, rules, &url) {
            if let Ok(hv) = HeaderValue::from_str(&format!("{head}{new}")) {
                headers.insert(name.clone(), hv);
                changed |= !refresh;
            }
        }
    }
    changed
}

fn apply_rules(
    ctx: &RequestCtx,
    pass: &ProxyPass,
    rules: &[Redirect],
    url: &str,
) -> Option<String> {
    for r in rules {
        match r {
            Redirect::Default => {
                if pass.host.is_empty() {
                    continue;
                }
                let to = if pass.uri.is_some() {
                    pass.location.as_str()
                } else {
                    "/"
                };
                if let Some(rest) = url.strip_prefix(pass.url.as_str()) {
                    return Some(format!("{to}{rest}"));
                }
            }
            Redirect::Replace { from, to } => match from {
                RedirectFrom::Prefix(p) => {
                    let p = p.eval(ctx);
                    if let Some(rest) = url.strip_prefix(p.as_str()) {
                        return Some(format!("{}{rest}", to.eval(ctx)));
                    }
                }
                RedirectFrom::Regex(re) => {
                    if let Some(caps) = re.captures(url) {
                        let m = crate::router::RegexMatch {
                            re: re.clone(),
                            caps,
                            subject: url.to_string(),
                        };
                        return Some(ctx.eval_with_match(to, m));
                    }
                }
            },
        }
    }
    None
}
