//! `resolver ADDR[:PORT]... [valid=T] [ipv6=on|off]` and `resolver_timeout T`: read at any
//! http level (see `location.rs`) and in `upstream` blocks, whose `resolve` servers use
//! the block's own resolver or else http's.

use super::parser::Directive;
use super::values;
use crate::error::{Error, Result};
use crate::resolver::Resolver;
use std::sync::Arc;
use std::time::Duration;

/// nginx's default `resolver_timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the resolver of one `resolver` directive (`timeout` from `resolver_timeout`).
pub fn build(d: &Directive, timeout: Duration) -> Result<Arc<Resolver>> {
    let mut servers = vec![];
    let mut valid = None;
    let mut ipv6 = true;
    for v in &d.args {
        if let Some(t) = v.strip_prefix("valid=") {
            valid = Some(values::time(t).ok_or_else(|| invalid(d))?);
        } else if let Some(f) = v.strip_prefix("ipv6=") {
            ipv6 = f == "on";
        } else if v.starts_with("status_zone=") {
            // nginx Plus statistics: nothing to collect here.
        } else {
            let bare_ip = v.parse::<std::net::IpAddr>().is_ok();
            let bracketed = v.starts_with('[') && v.ends_with(']');
            let with_port = if bare_ip || bracketed || !v.contains(':') {
                format!("{v}:53")
            } else {
                v.clone()
            };
            let addrs = std::net::ToSocketAddrs::to_socket_addrs(&with_port.as_str())
                .map_err(|_| d.err(format!("host not found in resolver \"{v}\"")))?;
            servers.extend(addrs);
        }
    }
    if servers.is_empty() {
        return Err(invalid(d));
    }
    Ok(Arc::new(Resolver::new(servers, valid, ipv6, timeout)))
}

/// `resolver_timeout T`.
pub fn timeout(d: &Directive) -> Result<Duration> {
    values::time(&d.args[0]).ok_or_else(|| invalid(d))
}

/// The resolver an `upstream` block's `resolve` servers use: the block's own `resolver`
/// and `resolver_timeout`, else those of the http block (`http`).
pub fn for_upstream(http: &[Directive], block: &[Directive]) -> Result<Option<Arc<Resolver>>> {
    let t = match last(block, "resolver_timeout").or_else(|| last(http, "resolver_timeout")) {
        Some(d) => timeout(d)?,
        None => DEFAULT_TIMEOUT,
    };
    last(block, "resolver")
        .or_else(|| last(http, "resolver"))
        .map(|d| build(d, t))
        .transpose()
}

fn last<'a>(dirs: &'a [Directive], name: &str) -> Option<&'a Directive> {
    dirs.iter().rev().find(|d| d.name == name)
}

fn invalid(d: &Directive) -> Error {
    d.err(format!("\"{}\" directive invalid value", d.name))
}
