//! In-process requests for the tools: the REPL's `:req` and `openclaw.test.request` send a
//! request through a generation's whole pipeline (server and location match, rewrite,
//! access, content, filters, log, real upstreams) over an in-memory connection, on the
//! calling thread, and collect the response and the error log lines it produced.

use super::conn::{serve_io, ConnParams, Limits, Tracker};
use super::Current;
use crate::lua::{Exchange as Response, ToolRequest as Request};
use crate::observe::{begin_capture, end_capture, flush_access_logs};
use crate::pipeline::Generation;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// Runs requests through one generation; [`Harness::replace`] swaps in a reloaded one.
pub struct Harness {
    current: Current,
    rt: tokio::runtime::Runtime,
    local: tokio::task::LocalSet,
    tracker: Tracker,
    shutdown: (watch::Sender<bool>, watch::Receiver<bool>),
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl Harness {
    pub fn new(gen: Generation) -> Result<Harness, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start runtime: {e}"))?;
        Ok(Harness {
            current: super::new_current(gen),
            rt,
            local: tokio::task::LocalSet::new(),
            tracker: Tracker::default(),
            shutdown: watch::channel(false),
        })
    }

    /// Serves later requests from `gen` (a reloaded configuration).
    pub fn replace(&self, gen: Generation) {
        super::publish(&self.current, Arc::new(gen));
    }

    pub fn generation(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// Runs `req` through the pipeline; `Err` only when the exchange itself failed (no
    /// server configured, the connection broke, the timeout passed).
    pub fn request(&self, req: &Request) -> Result<Response, String> {
        let gen = self.current.load_full();
        let (http, socket) = tool_socket(&gen)?;
        let sock = &http.sockets[socket];
        let listen = sock.addr;
        let server = &http.servers[sock.default_server];
        let local = if listen.ip().is_unspecified() {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port())
        } else {
            listen
        };
        let limits = Limits {
            header_timeout: server.client_header_timeout,
            max_header: server.large_header_buffers.0 * server.large_header_buffers.1 + 1024,
            idle: server.conf.keepalive_timeout,
            server_tokens: server.conf.server_tokens,
        };
        let params = ConnParams {
            current: self.current.clone(),
            listen,
            http2: false,
            shutdown: self.shutdown.1.clone(),
            tracker: self.tracker.clone(),
            client: None,
            live: None,
        };
        let wire = encode(req);
        let remote = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        let timeout = req.timeout.unwrap_or(DEFAULT_TIMEOUT);
        begin_capture(gen.config.main.error_level);
        let got = self.local.block_on(&self.rt, async move {
            crate::pipeline::allow_background(true);
            let (mut client, server_io) = tokio::io::duplex(64 * 1024);
            tokio::task::spawn_local(serve_io(
                server_io, remote, local, params, limits, None, false,
            ));
            let exchange = async {
                client.write_all(&wire).await?;
                let mut raw = vec![];
                client.read_to_end(&mut raw).await?;
                Ok::<_, std::io::Error>(raw)
            };
            let started = tokio::time::Instant::now();
            let got = match tokio::time::timeout(timeout, exchange).await {
                Ok(Ok(raw)) => Ok(raw),
                Ok(Err(e)) => Err(format!("the connection failed: {e}")),
                Err(_) => Err(format!("no response within {}s", timeout.as_secs_f64())),
            };
            // The request's log phase (which may yield) belongs to the exchange too.
            let left = timeout.saturating_sub(started.elapsed());
            let _ = tokio::time::timeout(left, crate::pipeline::background_done()).await;
            crate::pipeline::allow_background(false);
            got
        });
        flush_access_logs();
        let log = end_capture();
        let raw = got?;
        let mut resp = decode(&raw, req.method.eq_ignore_ascii_case("HEAD"))?;
        let mut lines = log;
        lines.append(&mut resp.log);
        resp.log = lines;
        Ok(resp)
    }
}

/// The configuration's http block and the listen socket the tools send requests to: the
/// first plain one (TLS is not spoken in process), else the first.
pub(super) fn tool_socket(gen: &Generation) -> Result<(&crate::config::Http, usize), String> {
    let http = gen
        .config
        .http
        .as_ref()
        .ok_or("the configuration has no http block")?;
    let socket = http
        .sockets
        .iter()
        .position(|s| !s.ssl)
        .or((!http.sockets.is_empty()).then_some(0))
        .ok_or("the configuration has no server to send a request to")?;
    Ok((http, socket))
}

/// The request as HTTP/1.1 bytes: `Host` defaults to `localhost`, the connection closes
/// after the response (so the response ends at EOF), a body gets its `Content-Length`.
fn encode(req: &Request) -> Vec<u8> {
    let method = if req.method.is_empty() {
        "GET"
    } else {
        &req.method
    };
    let path = if req.path.is_empty() { "/" } else { &req.path };
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    let has = |n: &str| req.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    if !has("host") {
        out.push_str("Host: localhost\r\n");
    }
    for (k, v) in &req.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has("connection") {
        out.push_str("Connection: close\r\n");
    }
    if !req.body.is_empty() && !has("content-length") && !has("transfer-encoding") {
        out.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&req.body);
    bytes
}

/// Parses a whole HTTP/1.x response read to EOF.
fn decode(raw: &[u8], head_only: bool) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the server closed the connection without a complete response")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {status_line}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let mut log = vec![];
    let body = if head_only || status == 204 || status == 304 {
        vec![]
    } else if chunked {
        let (body, complete) = dechunk(rest);
        if !complete {
            // A handler that failed after its headers went out: the client sees this.
            log.push("(the response was cut short: its chunked body is incomplete)".into());
        }
        body
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status_line,
        status,
        headers,
        body,
        log,
    })
}

/// A chunked body's data, and whether it ended properly (the last chunk seen).
fn dechunk(mut data: &[u8]) -> (Vec<u8>, bool) {
    let mut out = vec![];
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            return (out, false);
        };
        data = &data[eol + 2..];
        if size == 0 {
            return (out, true);
        }
        if data.len() < size + 2 {
            out.extend_from_slice(&data[..size.min(data.len())]);
            return (out, false);
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_chunked_and_plain_bodies() {
        let r = decode(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            false,
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"abcde");
        assert_eq!(r.headers[1], ("X-A".to_string(), "b".to_string()));
        let r = decode(b"HTTP/1.1 404 Not Found\r\n\r\nnope", false).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"nope"[..]));
        assert!(decode(b"HTTP/1.1 200 OK\r\n", false).is_err());
        let cut = decode(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            false,
        )
        .unwrap();
        assert_eq!(cut.body, b"ab");
        assert_eq!(cut.log.len(), 1);
    }

    #[test]
    fn encodes_defaults() {
        let r = Request {
            method: "POST".into(),
            path: "/x".into(),
            body: b"hi".to_vec(),
            ..Default::default()
        };
        let s = String::from_utf8(encode(&r)).unwrap();
        assert_eq!(
            s,
            "POST /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"
        );
    }
}
