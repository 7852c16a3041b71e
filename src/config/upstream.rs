//! `upstream NAME { ... }` blocks and the implicit upstreams of `proxy_pass host:port`.

use super::values;
use super::{Builder, Directive};
use crate::error::Error;
use crate::error::Result;
use crate::upstream::{Algo, Discovery, Keepalive, PeerConf, ResolveServer, Upstream};
use crate::vars::Complex;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// An upstream group as the config knows it: the shared group and its `hash` key.
#[derive(Debug, Clone)]
pub struct UpstreamDef {
    pub group: Arc<Upstream>,
    /// `hash KEY`: evaluated per request.
    pub hash_key: Option<Complex>,
    /// `balancer_by_lua*`: picks the peer of each try.
    pub balancer: Option<Arc<super::LuaChunk>>,
}

/// Builds every `upstream` block of the http body into `b.upstreams`.
pub fn build_upstreams(b: &mut Builder, body: &[Directive]) -> Result<()> {
    for d in body.iter().filter(|x| x.name == "upstream") {
        let name = d.args[0].clone();
        if b.upstreams.contains_key(&name) {
            return Err(d.err(format!("duplicate upstream \"{name}\"")));
        }
        let def = build_one(b, d, &name, body)?;
        b.upstreams.insert(name, def);
    }
    Ok(())
}

fn build_one(
    b: &mut Builder,
    d: &Directive,
    name: &str,
    http: &[Directive],
) -> Result<UpstreamDef> {
    let body = d.children();
    let mut algo = Algo::RoundRobin;
    let mut hash_key = None;
    let mut keepalive: Option<usize> = None;
    let mut ka_timeout = Duration::from_secs(60);
    let mut ka_requests = 1000u64;
    let mut balancer = None;
    let mut health = None;
    for x in body {
        let a = &x.args;
        let invalid = || {
            x.err(format!(
                "invalid value \"{}\" in \"{}\" directive",
                a[0], x.name
            ))
        };
        match x.name.as_str() {
            "least_conn" => algo = Algo::LeastConn,
            "ip_hash" => algo = Algo::IpHash,
            "ewma" => algo = Algo::Ewma,
            "hash" => {
                algo = match a.get(1).map(String::as_str) {
                    None => Algo::Hash,
                    Some("consistent") => Algo::ConsistentHash,
                    Some(p) => return Err(x.err(format!("invalid parameter \"{p}\""))),
                };
                hash_key = Some(b.complex(x, &a[0])?);
            }
            "random" => {
                algo = match a.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                    [] => Algo::Random,
                    ["two"] => Algo::RandomTwo,
                    ["two", "least_conn"] => Algo::RandomTwoLeastConn,
                    [.., p] => return Err(x.err(format!("invalid parameter \"{p}\""))),
                }
            }
            "keepalive" => {
                let n = values::number(&a[0]).filter(|n| *n > 0).ok_or_else(|| {
                    x.err(format!(
                        "invalid value \"{}\" in \"keepalive\" directive",
                        a[0]
                    ))
                })?;
                keepalive = Some(n as usize);
            }
            "balancer_by_lua_block" | "balancer_by_lua_file" => {
                if balancer.is_some() {
                    // lua-nginx-module's words exactly (its block form loses the name).
                    return Err(x.err("is duplicate"));
                }
                balancer = Some(super::location::lua_chunk(b, x)?);
            }
            "health_check" => health = Some(health_check(x)?),
            "zone" => zone(x)?,
            "keepalive_timeout" => ka_timeout = values::time(&a[0]).ok_or_else(invalid)?,
            "keepalive_requests" => ka_requests = values::number(&a[0]).ok_or_else(invalid)?,
            _ => {}
        }
    }
    let mut primary = vec![];
    let mut backup = vec![];
    let mut resolved = vec![];
    for x in body.iter().filter(|x| x.name == "server") {
        match server_line(x, algo)? {
            Line::Fixed(peers, true) => backup.extend(peers),
            Line::Fixed(peers, false) => primary.extend(peers),
            Line::Resolve(r) => resolved.push(r),
        }
    }
    if primary.is_empty() && !resolved.iter().any(|r| !r.backup) {
        return Err(d.err("no servers are inside upstream"));
    }
    let discovery = discovery(d, name, http, body, resolved)?;
    let keepalive = keepalive.map(|max_idle| Keepalive {
        max_idle,
        timeout: ka_timeout,
        requests: ka_requests,
    });
    Ok(UpstreamDef {
        group: Arc::new(
            Upstream::new(name, false, algo, primary, backup, keepalive)
                .with_health(health)
                .with_discovery(discovery),
        ),
        hash_key,
        balancer,
    })
}

/// `health_check [uri=] [interval=] [timeout=] [fails=] [passes=] [match_status=] [port=]`.
fn health_check(d: &Directive) -> Result<crate::upstream::HealthCheck> {
    let mut hc = crate::upstream::HealthCheck::default();
    for p in &d.args {
        let bad = || d.err(format!("invalid parameter \"{p}\""));
        let (k, v) = p.split_once('=').ok_or_else(bad)?;
        let num = || {
            values::number(v)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
        };
        match k {
            "uri" if v.starts_with('/') => hc.uri = v.to_string(),
            "interval" => hc.interval = values::time(v).filter(|t| !t.is_zero()).ok_or_else(bad)?,
            "timeout" => hc.timeout = values::time(v).filter(|t| !t.is_zero()).ok_or_else(bad)?,
            "fails" => hc.fails = num().ok_or_else(bad)?,
            "passes" => hc.passes = num().ok_or_else(bad)?,
            "port" => hc.port = Some(num().and_then(|n| u16::try_from(n).ok()).ok_or_else(bad)?),
            "match_status" => {
                let (lo, hi) = v.split_once('-').unwrap_or((v, v));
                match (lo.parse::<u16>(), hi.parse::<u16>()) {
                    (Ok(lo), Ok(hi)) if (100..=599).contains(&lo) && lo <= hi && hi <= 599 => {
                        hc.status = (lo, hi)
                    }
                    _ => return Err(bad()),
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(hc)
}

/// What a `server` line gives: peers resolved at load (and whether they are backups), or
/// a name to resolve at run time.
enum Line {
    Fixed(Vec<PeerConf>, bool),
    Resolve(ResolveServer),
}

/// The `resolve` lines' resolver, with nginx's checks: the block needs a `zone` (nginx
/// keeps run-time peers in shared memory) and a `resolver` (its own or http's).
fn discovery(
    d: &Directive,
    name: &str,
    http: &[Directive],
    body: &[Directive],
    servers: Vec<ResolveServer>,
) -> Result<Option<Discovery>> {
    if servers.is_empty() {
        return Ok(None);
    }
    // nginx reports these at the end of the http block, naming the upstream's line.
    let at = format!("upstream \"{name}\" in {}:{}", d.file, d.line);
    if !body.iter().any(|x| x.name == "zone") {
        return Err(Error::config(format!(
            "resolving names at run time requires {at} to be in shared memory"
        )));
    }
    let Some(resolver) = super::resolver::for_upstream(http, body)? else {
        return Err(Error::config(format!(
            "no resolver defined to resolve names at run time in {at}"
        )));
    };
    Ok(Some(Discovery { resolver, servers }))
}

/// `zone NAME [SIZE]`: accepted (peer state is always shared by the workers here) and
/// checked as nginx checks it.
fn zone(d: &Directive) -> Result<()> {
    if d.args[0].is_empty() {
        return Err(d.err(format!("invalid zone name \"{}\"", d.args[0])));
    }
    if let Some(size) = d.args.get(1) {
        let n = values::size(size).ok_or_else(|| d.err(format!("invalid zone size \"{size}\"")))?;
        // nginx's minimum: eight 4k pages.
        if n < 8 * 4096 {
            return Err(d.err(format!("zone \"{}\" is too small", d.args[0])));
        }
    }
    Ok(())
}

/// `server ADDR [weight=N] [max_fails=N] [fail_timeout=T] [max_conns=N] [backup] [down]
/// [resolve]`.
fn server_line(d: &Directive, algo: Algo) -> Result<Line> {
    let a = &d.args;
    let mut weight = 1u32;
    let mut max_fails = 1u32;
    let mut fail_timeout = Duration::from_secs(10);
    let mut max_conns = 0u32;
    let mut backup = false;
    let mut down = false;
    let mut at_run_time = false;
    for p in &a[1..] {
        let bad = || d.err(format!("invalid parameter \"{p}\""));
        let num = |v: &str| values::number(v).and_then(|n| u32::try_from(n).ok());
        if let Some(v) = p.strip_prefix("weight=") {
            weight = num(v).filter(|w| *w > 0).ok_or_else(bad)?;
        } else if let Some(v) = p.strip_prefix("max_fails=") {
            max_fails = num(v).ok_or_else(bad)?;
        } else if let Some(v) = p.strip_prefix("fail_timeout=") {
            fail_timeout = values::time(v).ok_or_else(bad)?;
        } else if let Some(v) = p.strip_prefix("max_conns=") {
            max_conns = num(v).ok_or_else(bad)?;
        } else if p == "backup" {
            // nginx's hash-based methods have no notion of a backup server.
            if matches!(algo, Algo::IpHash | Algo::Hash | Algo::ConsistentHash) {
                return Err(bad());
            }
            backup = true;
        } else if p == "down" {
            down = true;
        } else if p == "resolve" {
            at_run_time = true;
        } else {
            return Err(bad());
        }
    }
    let peer = |addr: SocketAddr| PeerConf {
        addr,
        server: a[0].clone(),
        name: addr.to_string(),
        weight,
        max_fails,
        fail_timeout,
        max_conns,
        down,
    };
    // `unix:` goes on to the fixed path and its error.
    if at_run_time && !a[0].starts_with("unix:") {
        let (host, port) = split_host_port_or(&a[0], 80)
            .ok_or_else(|| d.err(format!("invalid port in upstream \"{}\"", a[0])))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        // An address needs no resolving: nginx makes it a fixed peer.
        if bare.parse::<std::net::IpAddr>().is_err() {
            return Ok(Line::Resolve(ResolveServer {
                host: bare.to_string(),
                port,
                backup,
                // The address is a placeholder: each resolved one replaces it.
                template: peer(SocketAddr::from(([0, 0, 0, 0], port))),
            }));
        }
    }
    let peers = resolve(d, &a[0])?.into_iter().map(peer).collect();
    Ok(Line::Fixed(peers, backup))
}

/// Resolves `host[:port]` (port 80 by default) at load time, as nginx does.
pub fn resolve(d: &Directive, target: &str) -> Result<Vec<SocketAddr>> {
    resolve_or(d, target, 80)
}

/// [`resolve`] with another default port.
pub fn resolve_or(d: &Directive, target: &str, default: u16) -> Result<Vec<SocketAddr>> {
    if target.starts_with("unix:") {
        return Err(d.err(format!(
            "unix domain socket upstreams are not supported by openclaw: \"{target}\""
        )));
    }
    let (host, port) = split_host_port_or(target, default)
        .ok_or_else(|| d.err(format!("invalid port in upstream \"{target}\"")))?;
    let host_only = host.trim_start_matches('[').trim_end_matches(']');
    let mut addrs: Vec<SocketAddr> = (host_only, port)
        .to_socket_addrs()
        .map_err(|_| d.err(format!("host not found in upstream \"{target}\"")))?
        .collect();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(d.err(format!("host not found in upstream \"{target}\"")));
    }
    Ok(addrs)
}

/// Splits `host[:port]`, `[v6]:port` (`default` when absent); `None` for a bad port.
pub fn split_host_port_or(s: &str, default: u16) -> Option<(&str, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &s[..end + 2];
        return match &rest[end + 1..] {
            "" => Some((host, default)),
            p => p
                .strip_prefix(':')?
                .parse()
                .ok()
                .filter(|p| *p > 0)
                .map(|p| (host, p)),
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) => p.parse().ok().filter(|p| *p > 0).map(|p| (h, p)),
        None => Some((s, default)),
    }
}
