//! What proxying records about its tries, for `$upstream_*` variables and the error log.

use std::time::{Duration, Instant};

/// One try of one peer.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The peer address, or the upstream name when no peer was left.
    pub addr: String,
    /// The upstream's status, or 502/504 for a failed try.
    pub status: Option<u16>,
    pub start: Instant,
    pub connect: Option<Duration>,
    pub header: Option<Duration>,
    pub response: Option<Duration>,
    /// Body bytes received from the upstream.
    pub length: u64,
}

impl Attempt {
    pub fn new(addr: String) -> Attempt {
        Attempt {
            addr,
            status: None,
            start: Instant::now(),
            connect: None,
            header: None,
            response: None,
            length: 0,
        }
    }
}

/// What `balancer_by_lua*` decides for one try (through `ngx.balancer`).
#[derive(Debug, Default)]
pub struct BalancerState {
    /// `set_current_peer`: the peer of this try.
    pub peer: Option<std::net::SocketAddr>,
    /// `set_more_tries`: tries added.
    pub more_tries: usize,
    /// `get_last_failure`: `("failed"|"next", status)` of the previous try.
    pub last_failure: Option<(&'static str, u16)>,
    /// `set_timeouts`: connect, send, read for this try.
    pub timeouts: Option<(Option<Duration>, Option<Duration>, Option<Duration>)>,
    /// `enable_keepalive(idle_timeout, max_requests)`.
    pub keepalive: Option<(Duration, u64)>,
}

/// The proxying record of one request.
#[derive(Debug, Default)]
pub struct UpstreamLog {
    pub attempts: Vec<Attempt>,
    /// The last upstream response's headers (`$upstream_http_*`).
    pub headers: super::HeaderList,
    /// The scheme and URI sent upstream; with the current try's peer they make the
    /// `http://peer/uri` of error-log lines (put together only when a line is written).
    pub url: Option<(&'static str, String)>,
    /// `$proxy_host`, `$proxy_port`.
    pub proxy_host: String,
    pub proxy_port: u16,
    /// `$upstream_cache_status`.
    pub cache_status: Option<&'static str>,
}

fn secs(d: Option<Duration>) -> String {
    match d {
        Some(d) => {
            let ms = d.as_millis();
            format!("{}.{:03}", ms / 1000, ms % 1000)
        }
        None => "-".into(),
    }
}

impl UpstreamLog {
    /// `http://peer/uri` of the current try, for error-log lines.
    pub fn url(&self) -> Option<String> {
        let (scheme, uri) = self.url.as_ref()?;
        let peer = self.attempts.last().map_or("", |a| a.addr.as_str());
        Some(format!("{scheme}://{peer}{uri}"))
    }

    fn join(&self, f: impl Fn(&Attempt) -> String) -> String {
        self.attempts.iter().map(f).collect::<Vec<_>>().join(", ")
    }

    pub fn addr(&self) -> String {
        self.join(|a| a.addr.clone())
    }

    pub fn status(&self) -> String {
        self.join(|a| a.status.map_or("-".into(), |s| s.to_string()))
    }

    pub fn response_time(&self) -> String {
        self.join(|a| secs(a.response))
    }

    pub fn connect_time(&self) -> String {
        self.join(|a| secs(a.connect))
    }

    pub fn header_time(&self) -> String {
        self.join(|a| secs(a.header))
    }

    pub fn response_length(&self) -> String {
        self.join(|a| a.length.to_string())
    }
}
