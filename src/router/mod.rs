//! Request routing: virtual server by name, location by URI (nginx's order: exact, longest
//! prefix, nested locations, regexes in order unless `^~`).

use crate::config::{Http, LocKind, Location, Server, ServerName};
use crate::re::Captures;
use std::sync::Arc;

/// A regex match that produced captures, and the subject it ran on.
#[derive(Debug, Clone)]
pub struct RegexMatch {
    pub re: crate::re::Regex,
    pub caps: Captures,
    pub subject: String,
}

/// Picks the server for `host` among those on listen socket `socket`; the socket's default
/// server when no name matches.
pub fn select_server<'a>(
    http: &'a Http,
    socket: usize,
    host: Option<&str>,
) -> (&'a Arc<Server>, Option<RegexMatch>) {
    let sock = &http.sockets[socket];
    let default = &http.servers[sock.default_server];
    let Some(host) = host else {
        return (default, None);
    };
    let candidates = || sock.servers.iter().map(|&i| &http.servers[i]);
    for s in candidates() {
        if s.names
            .iter()
            .any(|n| matches!(n, ServerName::Exact(e) if e == host))
        {
            return (s, None);
        }
    }
    // Longest wildcard first: leading, then trailing.
    let mut best: Option<(usize, &Arc<Server>)> = None;
    for s in candidates() {
        for n in &s.names {
            if let ServerName::Suffix(suf, bare) = n {
                let hit = host.ends_with(suf.as_str()) || (*bare && host == &suf[1..]);
                if hit && best.is_none_or(|(l, _)| suf.len() > l) {
                    best = Some((suf.len(), s));
                }
            }
        }
    }
    if let Some((_, s)) = best {
        return (s, None);
    }
    for s in candidates() {
        for n in &s.names {
            if let ServerName::Prefix(pre) = n {
                if host.starts_with(pre.as_str()) && best.is_none_or(|(l, _)| pre.len() > l) {
                    best = Some((pre.len(), s));
                }
            }
        }
    }
    if let Some((_, s)) = best {
        return (s, None);
    }
    for s in candidates() {
        for n in &s.names {
            if let ServerName::Regex(re) = n {
                if let Some(caps) = re.captures(host) {
                    let m = RegexMatch {
                        re: re.clone(),
                        caps,
                        subject: host.to_string(),
                    };
                    return (s, Some(m));
                }
            }
        }
    }
    (default, None)
}

/// Finds the location for `uri` in a server.
pub fn find_location<'a>(
    server: &'a Server,
    uri: &str,
) -> Option<(&'a Arc<Location>, Option<RegexMatch>)> {
    find_in(&server.locations, uri).map(|(l, m, _)| (l, m))
}

/// nginx's auto redirect: `/api` when a `location /api/` proxies (and no `location = /api`
/// exists) is answered with a 301 to `/api/`.
pub fn auto_redirect(server: &Server, uri: &str) -> bool {
    if !server.auto_redirects.iter().any(|d| d == uri) {
        return false;
    }
    fn walk(list: &[Arc<Location>], uri: &str) -> bool {
        list.iter().any(|l| match &l.kind {
            LocKind::Prefix { prefix, .. } => {
                (prefix.len() == uri.len() + 1
                    && prefix.ends_with('/')
                    && prefix.starts_with(uri)
                    && l.conf.proxy_pass.is_some())
                    || (uri.starts_with(prefix.as_str()) && walk(&l.children, uri))
            }
            _ => false,
        })
    }
    let exact = server
        .locations
        .iter()
        .any(|l| matches!(&l.kind, LocKind::Exact(e) if e == uri));
    !exact && !uri.is_empty() && walk(&server.locations, uri)
}

/// Returns the location, a regex match, and whether the result is final (exact or regex
/// match, which stops the search in enclosing levels too).
fn find_in<'a>(
    list: &'a [Arc<Location>],
    uri: &str,
) -> Option<(&'a Arc<Location>, Option<RegexMatch>, bool)> {
    for l in list {
        if let LocKind::Exact(e) = &l.kind {
            if e == uri {
                return Some((l, None, true));
            }
        }
    }
    let mut best: Option<&Arc<Location>> = None;
    let mut best_len = 0;
    for l in list {
        if let LocKind::Prefix { prefix, .. } = &l.kind {
            if uri.starts_with(prefix.as_str()) && (best.is_none() || prefix.len() > best_len) {
                best = Some(l);
                best_len = prefix.len();
            }
        }
    }
    let mut tentative = None;
    if let Some(b) = best {
        if !b.children.is_empty() {
            if let Some(found) = find_in(&b.children, uri) {
                if found.2 {
                    return Some(found);
                }
                tentative = Some(found);
            }
        }
        if let LocKind::Prefix { noregex: true, .. } = &b.kind {
            return Some(tentative.unwrap_or((b, None, true)));
        }
    }
    for l in list {
        if let LocKind::Regex(re) = &l.kind {
            if let Some(caps) = re.captures(uri) {
                let m = RegexMatch {
                    re: re.clone(),
                    caps,
                    subject: uri.to_string(),
                };
                if !l.children.is_empty() {
                    if let Some(found) = find_in(&l.children, uri) {
                        return Some((found.0, found.1.or(Some(m)), true));
                    }
                }
                return Some((l, Some(m), true));
            }
        }
    }
    tentative.or_else(|| best.map(|b| (b, None, false)))
}
