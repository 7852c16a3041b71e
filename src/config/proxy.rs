//! `proxy_pass` and the `proxy_*` settings of a location (nginx's proxy module).

use super::upstream::{resolve_or, split_host_port_or, UpstreamDef};
use super::values;
use super::{Builder, Directive, LocConf};
use crate::error::Result;
use crate::upstream::{Algo, Upstream};
use crate::vars::Complex;
use std::sync::Arc;
use std::time::Duration;

/// The failure conditions `proxy_next_upstream` and `proxy_cache_use_stale` name, as bits.
pub mod next {
    pub const ERROR: u32 = 1;
    pub const TIMEOUT: u32 = 1 << 1;
    pub const INVALID_HEADER: u32 = 1 << 2;
    pub const HTTP_500: u32 = 1 << 3;
    pub const HTTP_502: u32 = 1 << 4;
    pub const HTTP_503: u32 = 1 << 5;
    pub const HTTP_504: u32 = 1 << 6;
    pub const HTTP_403: u32 = 1 << 7;
    pub const HTTP_404: u32 = 1 << 8;
    pub const HTTP_429: u32 = 1 << 9;
    /// `proxy_next_upstream` only.
    pub const NON_IDEMPOTENT: u32 = 1 << 10;
    /// `proxy_cache_use_stale` only.
    pub const UPDATING: u32 = 1 << 11;

    /// The bit of a status these directives can name.
    pub fn of_status(code: u16) -> u32 {
        match code {
            500 => HTTP_500,
            502 => HTTP_502,
            503 => HTTP_503,
            504 => HTTP_504,
            403 => HTTP_403,
            404 => HTTP_404,
            429 => HTTP_429,
            _ => 0,
        }
    }

    /// Parses a condition list; `extra` is the one word only this directive has
    /// (`non_idempotent` or `updating`). `off` alone is no condition.
    pub fn parse(d: &super::Directive, extra: (&str, u32)) -> crate::error::Result<u32> {
        let mut bits = 0;
        for v in &d.args {
            bits |= match v.as_str() {
                "error" => ERROR,
                "timeout" => TIMEOUT,
                "invalid_header" => INVALID_HEADER,
                "http_500" => HTTP_500,
                "http_502" => HTTP_502,
                "http_503" => HTTP_503,
                "http_504" => HTTP_504,
                "http_403" => HTTP_403,
                "http_404" => HTTP_404,
                "http_429" => HTTP_429,
                w if w == extra.0 => extra.1,
                "off" if d.args.len() == 1 => 0,
                _ => return Err(d.err(format!("invalid value \"{v}\""))),
            };
        }
        Ok(bits)
    }
}

/// One `proxy_redirect` rule.
#[derive(Debug, Clone)]
pub enum Redirect {
    /// `proxy_redirect default`: the proxy_pass URL becomes the location prefix.
    Default,
    /// `proxy_redirect FROM TO` (FROM starting with `~`/`~*` is a regex).
    Replace { from: RedirectFrom, to: Complex },
}

#[derive(Debug, Clone)]
pub enum RedirectFrom {
    Prefix(Complex),
    Regex(crate::re::Regex),
}

/// The `proxy_*` settings in force for a location.
#[derive(Debug, Clone)]
pub struct ProxyConf {
    /// `proxy_set_header` lines (name as written, value).
    pub set_headers: Vec<(String, Complex)>,
    pub hide_headers: Vec<String>,
    pub pass_headers: Vec<String>,
    /// `proxy_http_version`: false = 1.0 (nginx's default), true = 1.1.
    pub http11: bool,
    pub pass_request_headers: bool,
    pub pass_request_body: bool,
    pub connect_timeout: Duration,
    pub send_timeout: Duration,
    pub read_timeout: Duration,
    pub next_upstream: u32,
    pub next_upstream_tries: usize,
    pub next_upstream_timeout: Duration,
    pub intercept_errors: bool,
    /// Empty means `proxy_redirect off`.
    pub redirects: Vec<Redirect>,
    pub buffering: bool,
    pub request_buffering: bool,
    /// TLS to upstreams (`proxy_ssl_*`).
    pub ssl: Arc<UpstreamTls>,
    /// `proxy_cache*`.
    pub cache: Arc<super::CacheConf>,
}

/// `proxy_ssl_verify`, `proxy_ssl_trusted_certificate`, `proxy_ssl_server_name`,
/// `proxy_ssl_name`, `proxy_ssl_session_reuse`, and the client config they make.
#[derive(Debug, Clone)]
pub struct UpstreamTls {
    pub verify: bool,
    pub trusted: Option<std::path::PathBuf>,
    pub server_name: bool,
    /// The name to verify (and send as SNI); `$proxy_host` when unset.
    pub name: Option<Complex>,
    pub session_reuse: bool,
    /// `proxy_ssl_certificate` and `proxy_ssl_certificate_key`.
    pub cert: Option<std::path::PathBuf>,
    pub key: Option<std::path::PathBuf>,
    pub client: Arc<rustls::ClientConfig>,
}

impl Default for UpstreamTls {
    fn default() -> Self {
        static DEFAULT: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
        let client = DEFAULT
            .get_or_init(|| {
                crate::tls::client_config(false, None, false, true, None)
                    .expect("the default client config builds")
            })
            .clone();
        UpstreamTls {
            verify: false,
            trusted: None,
            server_name: false,
            name: None,
            session_reuse: true,
            cert: None,
            key: None,
            client,
        }
    }
}

impl Default for ProxyConf {
    fn default() -> Self {
        ProxyConf {
            set_headers: vec![],
            hide_headers: vec![],
            pass_headers: vec![],
            http11: false,
            pass_request_headers: true,
            pass_request_body: true,
            connect_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(60),
            next_upstream: next::ERROR | next::TIMEOUT,
            next_upstream_tries: 0,
            next_upstream_timeout: Duration::ZERO,
            intercept_errors: false,
            redirects: vec![Redirect::Default],
            buffering: true,
            request_buffering: true,
            ssl: Arc::default(),
            cache: Arc::default(),
        }
    }
}

/// Where `proxy_pass` sends requests.
#[derive(Debug, Clone)]
pub enum ProxyTarget {
    /// An `upstream` block, or the implicit group of a literal `host:port`.
    Group(UpstreamDef),
    /// A URL with variables, evaluated per request.
    Dynamic(Complex),
}

/// A location's `proxy_pass`.
#[derive(Debug, Clone)]
pub struct ProxyPass {
    pub target: ProxyTarget,
    /// `$proxy_host`: the upstream name, or `host[:port]` (port left out when 80).
    pub host: String,
    pub port: u16,
    /// The URI part of the URL, if it has one.
    pub uri: Option<String>,
    /// The location prefix the URI part replaces.
    pub location: String,
    /// `http://host[:port]` plus the URI part: what `proxy_redirect default` replaces.
    pub url: String,
    /// `https://`: TLS to the upstream.
    pub tls: bool,
    /// `grpc_pass`: HTTP/2 to the upstream (with trailers).
    pub h2: bool,
}

/// A parsed `http[s]://host[:port][/uri]`.
pub struct Url<'a> {
    pub tls: bool,
    /// `grpc://`, `grpcs://`: HTTP/2 to the upstream.
    pub h2: bool,
    pub host_port: &'a str,
    pub uri: Option<&'a str>,
}

impl Url<'_> {
    pub fn default_port(&self) -> u16 {
        if self.tls {
            443
        } else {
            80
        }
    }
}

/// Splits a proxy URL; `Err` carries nginx's message.
pub fn parse_url(url: &str) -> std::result::Result<Url<'_>, String> {
    let (tls, h2, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, false, r)
    } else if let Some(r) = url.strip_prefix("grpc://") {
        (false, true, r)
    } else if let Some(r) = url.strip_prefix("grpcs://") {
        (true, true, r)
    } else {
        return Err("invalid URL prefix".into());
    };
    let (hp, uri) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    if hp.is_empty() {
        return Err(format!("no host in \"{url}\""));
    }
    Ok(Url {
        tls,
        h2,
        host_port: hp,
        uri,
    })
}

/// Applies one `proxy_*` directive (`first`: its first occurrence at this level, which
/// replaces inherited lists).
pub fn apply(b: &mut Builder, conf: &mut LocConf, d: &Directive, first: bool) -> Result<()> {
    let a = &d.args;
    let time = |v: &str| {
        values::time(v)
            .ok_or_else(|| d.err(format!("invalid value \"{v}\" in \"{}\" directive", d.name)))
    };
    // The grpc module's settings have the proxy module's meaning (one set per location).
    let translated = d.name.replacen("grpc_", "proxy_", 1);
    let name = translated.as_str();
    if name == "proxy_pass" {
        if !first {
            return Err(d.err(format!("\"{}\" directive is duplicate", d.name)));
        }
        // grpc_pass takes `grpc://`, `grpcs://`, or a bare address or upstream name.
        let raw = if d.name == "grpc_pass" && !a[0].contains("://") && !a[0].starts_with('$') {
            format!("grpc://{}", a[0])
        } else {
            a[0].clone()
        };
        if d.name == "grpc_pass" && !raw.starts_with("grpc") && !raw.starts_with('$') {
            return Err(d.err("invalid URL prefix"));
        }
        let pass = proxy_pass(b, d, &raw, &conf.name)?;
        conf.proxy_pass = Some(Arc::new(pass));
        conf.lua.content = None;
        return Ok(());
    }
    let p = Arc::make_mut(&mut conf.proxy);
    match name {
        "proxy_set_header" => {
            if first {
                p.set_headers.clear();
            }
            p.set_headers.push((a[0].clone(), b.complex(d, &a[1])?));
        }
        "proxy_hide_header" => {
            if first {
                p.hide_headers.clear();
            }
            p.hide_headers.push(a[0].to_ascii_lowercase());
        }
        "proxy_pass_header" => {
            if first {
                p.pass_headers.clear();
            }
            p.pass_headers.push(a[0].to_ascii_lowercase());
        }
        "proxy_http_version" => {
            p.http11 = match a[0].as_str() {
                "1.0" => false,
                "1.1" => true,
                v => {
                    return Err(d.err(format!(
                    "invalid value \"{v}\" in \"{name}\" directive, it must be \"1.0\" or \"1.1\""
                )))
                }
            }
        }
        "proxy_pass_request_headers" => p.pass_request_headers = a[0] == "on",
        "proxy_pass_request_body" => p.pass_request_body = a[0] == "on",
        "proxy_connect_timeout" => p.connect_timeout = time(&a[0])?,
        "proxy_send_timeout" => p.send_timeout = time(&a[0])?,
        "proxy_read_timeout" => p.read_timeout = time(&a[0])?,
        "proxy_next_upstream_timeout" => p.next_upstream_timeout = time(&a[0])?,
        "proxy_next_upstream_tries" => {
            p.next_upstream_tries = values::number(&a[0])
                .ok_or_else(|| d.err(format!("invalid number \"{}\"", a[0])))?
                as usize
        }
        "proxy_intercept_errors" => p.intercept_errors = a[0] == "on",
        "proxy_buffering" => p.buffering = a[0] == "on",
        "proxy_request_buffering" => p.request_buffering = a[0] == "on",
        "proxy_next_upstream" => {
            p.next_upstream = next::parse(d, ("non_idempotent", next::NON_IDEMPOTENT))?;
        }
        "proxy_ssl_verify"
        | "proxy_ssl_trusted_certificate"
        | "proxy_ssl_server_name"
        | "proxy_ssl_session_reuse"
        | "proxy_ssl_certificate"
        | "proxy_ssl_certificate_key" => {
            let t = Arc::make_mut(&mut p.ssl);
            match name {
                "proxy_ssl_verify" => t.verify = a[0] == "on",
                "proxy_ssl_server_name" => t.server_name = a[0] == "on",
                "proxy_ssl_session_reuse" => t.session_reuse = a[0] == "on",
                "proxy_ssl_certificate" => t.cert = Some(b.conf_path(&a[0])),
                "proxy_ssl_certificate_key" => t.key = Some(b.conf_path(&a[0])),
                _ => t.trusted = Some(b.conf_path(&a[0])),
            }
            // The client certificate counts once both halves are known.
            let pair = t.cert.as_deref().zip(t.key.as_deref());
            t.client = crate::tls::client_config(
                t.verify,
                t.trusted.as_deref(),
                t.server_name,
                t.session_reuse,
                pair,
            )
            .map_err(|e| d.err(e))?;
        }
        "proxy_ssl_name" => Arc::make_mut(&mut p.ssl).name = Some(b.complex(d, &a[0])?),
        "proxy_ssl_protocols" => {
            crate::tls::versions(a).map_err(|e| d.err(format!("{e} in \"{name}\" directive")))?;
        }
        "proxy_ssl_ciphers" => {
            crate::tls::cipher_suites(&a[0]).map_err(|e| d.err(e.replace("ssl_ciphers", name)))?;
        }
        "proxy_ssl_verify_depth" => {
            values::number(&a[0]).ok_or_else(|| d.err(format!("invalid number \"{}\"", a[0])))?;
        }
        n if n.starts_with("proxy_cache")
            || n == "proxy_no_cache"
            || n == "proxy_ignore_headers" =>
        {
            super::cache::apply(b, Arc::make_mut(&mut p.cache), d, first)?
        }
        "proxy_redirect" => {
            if first {
                p.redirects.clear();
            }
            match a.as_slice() {
                [v] if v == "off" => p.redirects.clear(),
                [v] if v == "default" => p.redirects.push(Redirect::Default),
                [v] => return Err(d.err(format!("invalid parameter \"{v}\""))),
                [from, to] => {
                    let to = b.complex(d, to)?;
                    let from = if let Some(re) = from.strip_prefix("~*") {
                        RedirectFrom::Regex(crate::re::Regex::new(re, true).map_err(|e| d.err(e))?)
                    } else if let Some(re) = from.strip_prefix('~') {
                        RedirectFrom::Regex(crate::re::Regex::new(re, false).map_err(|e| d.err(e))?)
                    } else {
                        RedirectFrom::Prefix(b.complex(d, from)?)
                    };
                    p.redirects.push(Redirect::Replace { from, to });
                }
                _ => {
                    return Err(d.err("invalid number of arguments in \"proxy_redirect\" directive"))
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn proxy_pass(b: &mut Builder, d: &Directive, raw: &str, loc_name: &str) -> Result<ProxyPass> {
    let raw = &raw.to_string();
    let location = loc_name.strip_prefix("= ").unwrap_or(loc_name).to_string();
    if raw.contains('$') {
        // Checked for the scheme now; host and URI come per request.
        let scheme_var = raw.starts_with('$');
        if !scheme_var && !raw.contains("://") {
            parse_url(raw).map_err(|e| d.err(e))?;
        }
        return Ok(ProxyPass {
            target: ProxyTarget::Dynamic(b.complex(d, raw)?),
            host: String::new(),
            port: 80,
            uri: None,
            location,
            url: raw.clone(),
            tls: raw.starts_with("https://") || raw.starts_with("grpcs://"),
            h2: raw.starts_with("grpc"),
        });
    }
    let url = parse_url(raw).map_err(|e| d.err(e))?;
    if url.uri.is_some()
        && (loc_name.starts_with('~') || loc_name.starts_with('@') || loc_name.is_empty())
    {
        return Err(d.err("\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, or inside \"if\" statement, or inside \"limit_except\" block"));
    }
    let hp = url.host_port;
    let default_port = url.default_port();
    let has_port = hp.contains("]:") || (!hp.starts_with('[') && hp.contains(':'));
    let (host, port) = split_host_port_or(hp, default_port)
        .ok_or_else(|| d.err(format!("invalid port in upstream \"{hp}\"")))?;
    let group = if let Some(def) = b.upstreams.get(host) {
        if has_port {
            return Err(d.err(format!("upstream \"{host}\" may not have port {port}")));
        }
        def.clone()
    } else {
        let key = format!("{host}:{port}");
        match b.implicit_upstreams.get(&key) {
            Some(def) => def.clone(),
            None => {
                let addrs = resolve_or(d, hp, default_port)?;
                let peers = addrs
                    .into_iter()
                    .map(|addr| crate::upstream::PeerConf::plain(addr, hp))
                    .collect();
                let def = UpstreamDef {
                    group: Arc::new(Upstream::new(
                        hp,
                        true,
                        Algo::RoundRobin,
                        peers,
                        vec![],
                        None,
                    )),
                    hash_key: None,
                    balancer: None,
                };
                b.implicit_upstreams.insert(key, def.clone());
                def
            }
        }
    };
    let proxy_host = if port == default_port || !has_port {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    let scheme = if url.tls { "https" } else { "http" };
    let full = match url.uri {
        Some(u) => format!("{scheme}://{hp}{u}"),
        None => format!("{scheme}://{hp}/"),
    };
    Ok(ProxyPass {
        target: ProxyTarget::Group(group),
        host: proxy_host,
        port,
        uri: url.uri.map(str::to_string),
        location,
        url: full,
        tls: url.tls,
        h2: url.h2,
    })
}
