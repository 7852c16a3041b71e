//! nginx's `resolver ADDR... [valid=T] [ipv6=on|off]` and `resolver_timeout`: a small
//! asynchronous DNS client over UDP (A and AAAA queries, answers cached for their TTL or
//! `valid`), used by `proxy_pass` with variables, by cosockets and by upstream
//! `server NAME resolve` lines (which re-resolve through [`Resolver::lookup`]).
//!
//! Errors read like nginx's: `NAME could not be resolved (3: Host not found)`,
//! `(110: Operation timed out)`, `(2: Server failure)`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A configured resolver (shared by the locations that inherit it).
#[derive(Debug)]
pub struct Resolver {
    pub servers: Vec<SocketAddr>,
    /// `valid=`: overrides the answers' TTLs.
    pub valid: Option<Duration>,
    pub ipv6: bool,
    pub timeout: Duration,
    cache: Mutex<HashMap<String, (Vec<IpAddr>, Instant)>>,
}

/// Why a name did not resolve: nginx's code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveError {
    pub code: u8,
    pub text: &'static str,
}

impl ResolveError {
    fn new(code: u8) -> ResolveError {
        let text = match code {
            1 => "Format error",
            2 => "Server failure",
            3 => "Host not found",
            4 => "Unimplemented",
            5 => "Operation refused",
            110 => "Operation timed out",
            _ => "Unknown error",
        };
        ResolveError { code, text }
    }

    /// `NAME could not be resolved (3: Host not found)`.
    pub fn message(&self, name: &str) -> String {
        format!(
            "{name} could not be resolved ({}: {})",
            self.code, self.text
        )
    }
}

impl Resolver {
    pub fn new(
        servers: Vec<SocketAddr>,
        valid: Option<Duration>,
        ipv6: bool,
        timeout: Duration,
    ) -> Resolver {
        Resolver {
            servers,
            valid,
            ipv6,
            timeout,
            cache: Mutex::default(),
        }
    }

    /// The addresses of `name` (an IP literal answers itself), from the cache while their
    /// TTL (or `valid`) lasts.
    pub async fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, ResolveError> {
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let key = name.to_ascii_lowercase();
        if let Some((addrs, until)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            if Instant::now() < *until {
                return Ok(addrs.clone());
            }
        }
        let (out, life) = self.lookup(&key).await?;
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (out.clone(), Instant::now() + life));
        Ok(out)
    }

    /// Asks the servers now, past the cache: the addresses of `name` and how long they
    /// hold (`valid`, else the smallest TTL of the answer, at most a day). Upstream
    /// `resolve` servers ask again when that time is up. "No such name" and "no
    /// addresses" are both `3: Host not found`, as in nginx.
    pub async fn lookup(&self, name: &str) -> Result<(Vec<IpAddr>, Duration), ResolveError> {
        let key = name.to_ascii_lowercase();
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut out = vec![];
        let mut ttl = u32::MAX;
        let mut last = ResolveError::new(110);
        let types: &[u16] = if self.ipv6 { &[1, 28] } else { &[1] };
        for &qtype in types {
            for server in &self.servers {
                match tokio::time::timeout_at(deadline, query(*server, &key, qtype)).await {
                    Ok(Ok((addrs, t))) => {
                        out.extend(addrs);
                        ttl = ttl.min(t);
                        last = ResolveError::new(0);
                        break;
                    }
                    Ok(Err(e)) => last = e,
                    Err(_) => last = ResolveError::new(110),
                }
            }
        }
        if out.is_empty() {
            return Err(if last.code == 0 {
                ResolveError::new(3)
            } else {
                last
            });
        }
        let life = self
            .valid
            .unwrap_or(Duration::from_secs(ttl.min(86_400) as u64));
        Ok((out, life))
    }
}

/// One question to one server: the addresses and the smallest TTL, or the server's error.
async fn query(
    server: SocketAddr,
    name: &str,
    qtype: u16,
) -> Result<(Vec<IpAddr>, u32), ResolveError> {
    let bind = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|_| ResolveError::new(2))?;
    sock.connect(server)
        .await
        .map_err(|_| ResolveError::new(2))?;
    let id: u16 = rand::random();
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(ResolveError::new(1));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    sock.send(&q).await.map_err(|_| ResolveError::new(2))?;
    let mut buf = [0u8; 1500];
    loop {
        let n = sock
            .recv(&mut buf)
            .await
            .map_err(|_| ResolveError::new(2))?;
        if n < 12 || buf[..2] != id.to_be_bytes() {
            continue; // not our answer
        }
        return parse(&buf[..n], qtype);
    }
}

/// Skips a (possibly compressed) name; the offset after it.
fn skip_name(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let len = *b.get(i)? as usize;
        if len == 0 {
            return Some(i + 1);
        }
        if len & 0xC0 == 0xC0 {
            return Some(i + 2);
        }
        i += 1 + len;
    }
}

fn parse(b: &[u8], qtype: u16) -> Result<(Vec<IpAddr>, u32), ResolveError> {
    let rcode = b[3] & 0x0F;
    if rcode != 0 {
        return Err(ResolveError::new(rcode));
    }
    let qd = u16::from_be_bytes([b[4], b[5]]) as usize;
    let an = u16::from_be_bytes([b[6], b[7]]) as usize;
    let bad = || ResolveError::new(1);
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(b, i).ok_or_else(bad)? + 4;
    }
    let mut out = vec![];
    let mut ttl = u32::MAX;
    for _ in 0..an {
        i = skip_name(b, i).ok_or_else(bad)?;
        let h = b.get(i..i + 10).ok_or_else(bad)?;
        let t = u16::from_be_bytes([h[0], h[1]]);
        let rttl = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        let len = u16::from_be_bytes([h[8], h[9]]) as usize;
        let data = b.get(i + 10..i + 10 + len).ok_or_else(bad)?;
        i += 10 + len;
        if t != qtype {
            continue; // CNAMEs: their targets' addresses follow in the same answer
        }
        match (t, len) {
            (1, 4) => out.push(IpAddr::from([data[0], data[1], data[2], data[3]])),
            (28, 16) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(data);
                out.push(IpAddr::from(a));
            }
            _ => continue,
        }
        ttl = ttl.min(rttl);
    }
    Ok((out, ttl))
}
