//! The `http` block: servers, listen sockets, server names, maps, split_clients and log
//! formats.

use super::location::{
    apply_settings, build_location, compile_script, loc_text, var_name, Escape, LocConf, LocKind,
    Location, LogFormat, Op,
};
use super::parser::Directive;
use super::values;
use super::Builder;
use crate::error::Result;
use crate::re::Regex;
use crate::vars::Complex;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum ServerName {
    Exact(String),
    /// `*.example.com` (stored as `.example.com`) or `.example.com` (also matches the bare
    /// domain, flagged by the bool).
    Suffix(String, bool),
    /// `www.example.*` (stored as `www.example.`).
    Prefix(String),
    Regex(Regex),
}

/// One `listen` as written.
#[derive(Debug, Clone)]
pub struct Listen {
    pub addr: SocketAddr,
    pub default_server: bool,
    pub http2: bool,
    pub ssl: bool,
    pub reuseport: bool,
    pub backlog: i32,
}

#[derive(Debug)]
pub struct Server {
    pub names: Vec<ServerName>,
    /// The first name, for `$server_name`.
    pub first_name: String,
    pub listens: Vec<Listen>,
    pub script: Vec<Op>,
    pub locations: Vec<Arc<Location>>,
    pub named: HashMap<String, Arc<Location>>,
    pub conf: Arc<LocConf>,
    pub client_header_timeout: Duration,
    /// `large_client_header_buffers N SIZE`: a request line or header line must fit SIZE,
    /// all of them N * SIZE.
    pub large_header_buffers: (usize, usize),
    pub merge_slashes: bool,
    /// `/prefix` for each `location /prefix/` that proxies: the URIs that may need nginx's
    /// auto redirect (checked first, so other requests skip the location walk).
    pub auto_redirects: Vec<String>,
    /// Certificates and TLS settings, when the server has `ssl_certificate`.
    pub tls: Option<Arc<super::ServerTls>>,
}

/// A socket to bind and the servers reachable through it.
#[derive(Debug, Clone)]
pub struct ListenSocket {
    pub addr: SocketAddr,
    pub http2: bool,
    pub ssl: bool,
    pub reuseport: bool,
    pub backlog: i32,
    /// Indices into `Http::servers`.
    pub servers: Vec<usize>,
    pub default_server: usize,
}

#[derive(Debug)]
pub struct MapDef {
    pub source: Complex,
    pub exact: HashMap<String, Complex>,
    /// With `hostnames`: `*.example.com` / `.example.com` (bool: also the bare domain).
    pub suffixes: Vec<(String, bool, Complex)>,
    /// With `hostnames`: `www.example.*` stored as `www.example.`.
    pub prefixes: Vec<(String, Complex)>,
    pub regexes: Vec<(Regex, Complex)>,
    pub default: Complex,
}

#[derive(Debug)]
pub struct SplitDef {
    pub source: Complex,
    /// (upper bound of the murmur2 hash, value); bound 0 is `*`.
    pub parts: Vec<(u32, Complex)>,
}

#[derive(Debug)]
pub enum Computed {
    Map(MapDef),
    Split(SplitDef),
}

#[derive(Debug)]
pub struct Http {
    pub servers: Vec<Arc<Server>>,
    pub sockets: Vec<ListenSocket>,
    /// Variables computed on demand: `map` and `split_clients` outputs.
    pub computed: HashMap<Arc<str>, Arc<Computed>>,
    /// Access log files (indexed by `AccessLogSpec::file`).
    pub log_files: Vec<std::path::PathBuf>,
    /// `lua_package_path` / `lua_package_cpath` (`;;` is the default path).
    pub lua_package_path: Option<String>,
    pub lua_package_cpath: Option<String>,
    /// Whether any Lua handler is configured (the Lua engine is started only then).
    pub uses_lua: bool,
    /// `lua_shared_dict NAME SIZE` zones.
    pub shared_dicts: Vec<(String, usize)>,
    /// `lua_max_pending_timers` (default 1024).
    pub lua_max_pending_timers: usize,
    /// `lua_regex_cache_max_entries` (default 1024).
    pub lua_regex_cache_max_entries: usize,
    /// `init_by_lua*`: run in every new VM before it serves.
    pub lua_init: Option<Arc<super::location::LuaChunk>>,
    /// `init_worker_by_lua*`: run in each worker's VM once it exists.
    pub lua_init_worker: Option<Arc<super::location::LuaChunk>>,
    /// `exit_worker_by_lua*`: run in each worker's VM when the worker stops.
    pub lua_exit_worker: Option<Arc<super::location::LuaChunk>>,
    /// Variables declared by `set`, `map`, `split_clients` or named captures: the ones Lua
    /// may assign through `ngx.var`.
    pub declared_vars: std::collections::HashSet<String>,
    /// `upstream` blocks by name (proxy_pass with variables and Lua look them up).
    pub upstreams: HashMap<String, super::UpstreamDef>,
    /// `proxy_cache_path` zones by name.
    pub cache_zones: HashMap<String, Arc<crate::cache::Zone>>,
    /// API keys: the store and the tiers.
    pub keys: Option<Arc<super::KeysGlobal>>,
    /// Client TLS settings of cosockets' `sslhandshake` (`lua_ssl_*`).
    pub lua_ssl: Arc<LuaSsl>,
    /// `lua_capture_error_log SIZE`: the buffer `ngx.errlog.get_logs` reads.
    pub lua_capture_error_log: Option<usize>,
    /// Managed ACME certificates: plain-HTTP listeners answer HTTP-01 when there are any.
    pub acme: Vec<Arc<crate::tls::acme::Managed>>,
    /// Issuers asked for certificates on demand (`acme_on_demand on`).
    pub acme_on_demand: Vec<Arc<crate::tls::acme::Issuer>>,
}

/// `lua_ssl_trusted_certificate`, `lua_ssl_verify_depth`, `lua_ssl_protocols`: the client
/// configurations `tcpsock:sslhandshake` uses, built at load so a bad file fails `-t`.
#[derive(Debug)]
pub struct LuaSsl {
    /// `ssl_verify` true: the trusted certificates (none: every chain fails, as in
    /// OpenResty without `lua_ssl_trusted_certificate`).
    pub verify: Arc<rustls::ClientConfig>,
    /// `ssl_verify` false: any certificate is accepted (signatures still checked).
    pub no_verify: Arc<rustls::ClientConfig>,
}

impl LuaSsl {
    pub fn build(
        trusted: Option<&std::path::Path>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> std::result::Result<LuaSsl, String> {
        let make = |verify: bool| -> std::result::Result<Arc<rustls::ClientConfig>, String> {
            let base = crate::tls::client_config_versions(verify, trusted, versions)?;
            let mut c = (*base).clone();
            // Cosockets speak whatever the script speaks: no ALPN, as OpenResty.
            c.alpn_protocols.clear();
            Ok(Arc::new(c))
        };
        Ok(LuaSsl {
            verify: make(true)?,
            no_verify: make(false)?,
        })
    }
}

pub fn build_http(b: &mut Builder, d: &Directive) -> Result<Http> {
    let body = d.children();
    // log_format first, so access_log anywhere can name a format defined later in http.
    for lf in body.iter().filter(|x| x.name == "log_format") {
        log_format(b, lf)?;
    }
    for z in body.iter().filter(|x| x.name == "limit_req_zone") {
        limit_req_zone(b, z)?;
    }
    for z in body.iter().filter(|x| x.name == "limit_conn_zone") {
        let key = b.complex(z, &z.args[0])?;
        let spec = z.args[1]
            .strip_prefix("zone=")
            .ok_or_else(|| z.err(format!("invalid zone size \"{}\"", z.args[1])))?;
        let (name, size) = spec
            .split_once(':')
            .ok_or_else(|| z.err(format!("invalid zone size \"{}\"", z.args[1])))?;
        let size = values::size(size)
            .filter(|s| *s >= 8 * 4096)
            .ok_or_else(|| z.err(format!("zone \"{name}\" is too small")))?;
        let zone = crate::limit::ConnZone::zone(name, size as usize);
        b.conn_zones.insert(name.to_string(), (zone, key));
    }
    for z in body.iter().filter(|x| x.name == "proxy_cache_path") {
        super::cache::cache_path(b, z)?;
    }
    super::keys::build_global(b, body)?;
    super::upstream::build_upstreams(b, body)?;
    super::acme::build_issuers(b, body)?;
    let mut computed = HashMap::new();
    for md in body {
        match md.name.as_str() {
            "map" => {
                let name = var_name(md, &md.args[1])?.to_string();
                b.names.declared.insert(name.clone());
                let m = build_map(b, md)?;
                computed.insert(name.into(), Arc::new(Computed::Map(m)));
            }
            "split_clients" => {
                let name = var_name(md, &md.args[1])?.to_string();
                b.names.declared.insert(name.clone());
                let s = build_split(b, md)?;
                computed.insert(name.into(), Arc::new(Computed::Split(s)));
            }
            _ => {}
        }
    }
    let mut conf = LocConf::defaults(b);
    apply_settings(b, &mut conf, body)?;
    if !body.iter().any(|x| x.name == "access_log") {
        let combined = b.log_formats["combined"].clone();
        let file = b.log_file(&b.prefix.join("logs/access.log"));
        conf.access_logs = Arc::new(vec![super::location::AccessLogSpec {
            file,
            format: combined,
        }]);
    }
    let mut servers = vec![];
    for sd in body.iter().filter(|x| x.name == "server") {
        servers.push(Arc::new(build_server(b, sd, &conf, body)?));
    }
    let sockets = group_sockets(&servers, body)?;
    let mut lua_init = None;
    let mut lua_init_worker = None;
    let mut shared_dicts: Vec<(String, usize)> = vec![];
    for x in body.iter().filter(|x| x.name == "lua_shared_dict") {
        let size = values::size(&x.args[1])
            .filter(|s| *s >= 8 * 4096)
            .ok_or_else(|| x.err(format!("invalid lua shared dict size \"{}\"", x.args[1])))?;
        if shared_dicts.iter().any(|(n, _)| *n == x.args[0]) {
            return Err(x.err(format!(
                "lua_shared_dict \"{}\" is already defined as \"{}\"",
                x.args[0], x.args[0]
            )));
        }
        shared_dicts.push((x.args[0].clone(), size as usize));
    }
    let mut lua_max_pending_timers = 1024;
    let mut lua_regex_cache_max_entries = 1024;
    let mut lua_capture_error_log = None;
    for x in body {
        let number = || {
            values::number(&x.args[0])
                .map(|n| n as usize)
                .ok_or_else(|| x.err(format!("invalid number \"{}\"", x.args[0])))
        };
        match x.name.as_str() {
            "lua_max_pending_timers" => lua_max_pending_timers = number()?,
            "lua_regex_cache_max_entries" => lua_regex_cache_max_entries = number()?,
            "lua_max_running_timers" | "lua_regex_match_limit" => {
                number()?;
            }
            "lua_capture_error_log" => {
                let size = values::size(&x.args[0])
                    .ok_or_else(|| x.err(format!("invalid size \"{}\"", x.args[0])))?;
                lua_capture_error_log = Some(size as usize);
            }
            "lua_ssl_verify_depth" => {
                number()?;
            }
            _ => {}
        }
    }
    let lua_ssl = {
        let trusted = body
            .iter()
            .find(|x| x.name == "lua_ssl_trusted_certificate")
            .map(|x| (x, b.conf_path(&x.args[0])));
        let versions = match body.iter().find(|x| x.name == "lua_ssl_protocols") {
            Some(x) => crate::tls::versions(&x.args)
                .map_err(|e| x.err(format!("{e} in \"lua_ssl_protocols\" directive")))?,
            None => vec![&rustls::version::TLS13, &rustls::version::TLS12],
        };
        let lua_ssl = LuaSsl::build(trusted.as_ref().map(|(_, p)| p.as_path()), &versions);
        match (lua_ssl, trusted) {
            (Ok(s), _) => Arc::new(s),
            (Err(e), Some((x, _))) => return Err(x.err(e)),
            (Err(e), None) => return Err(crate::error::Error::config(e)),
        }
    };
    let mut lua_exit_worker = None;
    for x in body {
        if x.name.starts_with("exit_worker_by_lua") {
            lua_exit_worker = Some(super::location::lua_chunk(b, x)?);
        } else if x.name.starts_with("init_worker_by_lua") {
            lua_init_worker = Some(super::location::lua_chunk(b, x)?);
        } else if x.name.starts_with("init_by_lua") {
            lua_init = Some(super::location::lua_chunk(b, x)?);
        }
    }
    let arg_of = |n: &str| body.iter().find(|x| x.name == n).map(|x| x.args[0].clone());
    Ok(Http {
        servers,
        sockets,
        computed,
        log_files: std::mem::take(&mut b.log_files),
        lua_package_path: arg_of("lua_package_path"),
        lua_package_cpath: arg_of("lua_package_cpath"),
        uses_lua: b.lua_chunks > 0,
        shared_dicts,
        lua_max_pending_timers,
        lua_regex_cache_max_entries,
        lua_init,
        lua_init_worker,
        lua_exit_worker,
        declared_vars: b.names.declared.clone(),
        upstreams: b.upstreams.clone(),
        cache_zones: b.cache_zones.clone(),
        lua_ssl,
        lua_capture_error_log,
        keys: b.keys.clone(),
        acme: std::mem::take(&mut b.acme),
        acme_on_demand: std::mem::take(&mut b.acme_on_demand),
    })
}

/// `limit_req_zone KEY zone=NAME:SIZE rate=Nr/s|Nr/m [sync] [redis=URL]
/// [redis_fail=open|closed] [redis_timeout=T]`.
fn limit_req_zone(b: &mut Builder, d: &Directive) -> Result<()> {
    let key = b.complex(d, &d.args[0])?;
    let mut zone: Option<(String, usize)> = None;
    let mut redis_url: Option<String> = None;
    let mut fail_open = true;
    let mut redis_timeout = std::time::Duration::from_millis(200);
    let mut rate: Option<u64> = None;
    for a in &d.args[1..] {
        if let Some(z) = a.strip_prefix("zone=") {
            let (name, size) = z
                .split_once(':')
                .ok_or_else(|| d.err(format!("invalid zone size \"{a}\"")))?;
            let size = values::size(size)
                .filter(|s| *s >= 8 * 4096)
                .ok_or_else(|| d.err(format!("zone \"{name}\" is too small")))?;
            zone = Some((name.to_string(), size as usize));
        } else if let Some(r) = a.strip_prefix("rate=") {
            let (num, per_min) = if let Some(n) = r.strip_suffix("r/s") {
                (n, false)
            } else if let Some(n) = r.strip_suffix("r/m") {
                (n, true)
            } else {
                return Err(d.err(format!("invalid rate \"{a}\"")));
            };
            let n = values::number(num)
                .filter(|n| *n > 0)
                .ok_or_else(|| d.err(format!("invalid rate \"{a}\"")))?;
            rate = Some(if per_min { n * 1000 / 60 } else { n * 1000 });
        } else if let Some(u) = a.strip_prefix("redis=") {
            redis_url = Some(u.to_string());
        } else if let Some(v) = a.strip_prefix("redis_fail=") {
            fail_open = match v {
                "open" => true,
                "closed" => false,
                _ => return Err(d.err(format!("invalid parameter \"{a}\""))),
            };
        } else if let Some(v) = a.strip_prefix("redis_timeout=") {
            redis_timeout = values::time(v)
                .filter(|t| !t.is_zero())
                .ok_or_else(|| d.err(format!("invalid parameter \"{a}\"")))?;
        } else if a != "sync" {
            return Err(d.err(format!("invalid parameter \"{a}\"")));
        }
    }
    let Some((name, size)) = zone else {
        return Err(d.err("\"limit_req_zone\" must have \"zone\" parameter"));
    };
    let rate = rate.unwrap_or(1000);
    let z = crate::limit::LimitZone::zone(&name, size, rate);
    let redis = match redis_url {
        Some(u) => Some(Arc::new(
            crate::limit::RedisLimit::new(&u, &name, fail_open, redis_timeout)
                .map_err(|e| d.err(e))?,
        )),
        None => None,
    };
    b.limit_zones.insert(name, (z, key, redis));
    Ok(())
}

fn log_format(b: &mut Builder, d: &Directive) -> Result<()> {
    let name = d.args[0].clone();
    if b.log_formats.contains_key(&name) {
        return Err(d.err(format!("duplicate \"log_format\" name \"{name}\"")));
    }
    let mut rest = &d.args[1..];
    let mut escape = Escape::Default;
    if let Some(e) = rest.first().and_then(|s| s.strip_prefix("escape=")) {
        escape = match e {
            "default" => Escape::Default,
            "json" => Escape::Json,
            "none" => Escape::None,
            _ => return Err(d.err(format!("unknown log format escaping \"{e}\""))),
        };
        rest = &rest[1..];
    }
    let text = rest.concat();
    let value = b.complex(d, &text)?;
    b.log_formats.insert(
        name.clone(),
        Arc::new(LogFormat {
            name,
            escape,
            value,
        }),
    );
    Ok(())
}

fn build_map(b: &mut Builder, d: &Directive) -> Result<MapDef> {
    let source = b.complex(d, &d.args[0])?;
    let mut def = MapDef {
        source,
        exact: HashMap::new(),
        suffixes: vec![],
        prefixes: vec![],
        regexes: vec![],
        default: Complex::literal(""),
    };
    let mut has_default = false;
    let hostnames = d
        .children()
        .iter()
        .any(|l| l.name == "hostnames" && l.args.is_empty());
    for line in d.children() {
        let key = line.name.as_str();
        if line.args.is_empty() && matches!(key, "hostnames" | "volatile") {
            continue;
        }
        if line.args.len() != 1 {
            return Err(line.err("invalid number of the map parameters"));
        }
        let value = b.complex(line, &line.args[0])?;
        if key == "default" {
            if has_default {
                return Err(line.err("duplicate default map parameter"));
            }
            has_default = true;
            def.default = value;
        } else if let Some(re) = key.strip_prefix('~') {
            let (pat, caseless) = match re.strip_prefix('*') {
                Some(p) => (p, true),
                None => (re, false),
            };
            let regex = Regex::new(pat, caseless).map_err(|e| line.err(e))?;
            b.declare_captures(&regex);
            def.regexes.push((regex, value));
        } else if hostnames && key.starts_with("*.") {
            def.suffixes
                .push((key[1..].to_ascii_lowercase(), false, value));
        } else if hostnames && key.starts_with('.') {
            def.suffixes.push((key.to_ascii_lowercase(), true, value));
        } else if hostnames && key.ends_with(".*") {
            def.prefixes
                .push((key[..key.len() - 1].to_ascii_lowercase(), value));
        } else {
            let k = key.strip_prefix('\\').unwrap_or(key).to_ascii_lowercase();
            def.exact.insert(k, value);
        }
    }
    Ok(def)
}

fn build_split(b: &mut Builder, d: &Directive) -> Result<SplitDef> {
    let source = b.complex(d, &d.args[0])?;
    let mut parts = vec![];
    let mut sum: u64 = 0;
    for line in d.children() {
        if line.args.len() != 1 {
            return Err(line.err("invalid number of arguments"));
        }
        let value = b.complex(line, &line.args[0])?;
        if line.name == "*" {
            parts.push((0u32, value));
            continue;
        }
        let pct = line
            .name
            .strip_suffix('%')
            .and_then(parse_fixed2)
            .ok_or_else(|| line.err(format!("invalid percent value \"{}\"", line.name)))?;
        sum += pct;
        if sum > 10000 {
            return Err(super::parser::Directive {
                line: d.end_line,
                ..d.clone()
            }
            .err("percent total is greater than 100%"));
        }
        let bound = (sum * 0xffff_ffffu64 / 10000) as u32;
        parts.push((bound, value));
    }
    Ok(SplitDef { source, parts })
}

/// `ngx_atofp(s, 2)`: "12.5" -> 1250.
fn parse_fixed2(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 2 {
        return None;
    }
    let i = values::number(int)?;
    let f = if frac.is_empty() {
        0
    } else {
        values::number(frac)? * if frac.len() == 1 { 10 } else { 1 }
    };
    Some(i * 100 + f)
}

fn build_server(
    b: &mut Builder,
    d: &Directive,
    http_conf: &LocConf,
    http_body: &[Directive],
) -> Result<Server> {
    let body = d.children();
    let mut conf = http_conf.clone();
    apply_settings(b, &mut conf, body)?;
    let mut listens: Vec<Listen> = vec![];
    let mut names = vec![];
    let mut first_name = String::new();
    let mut client_header_timeout = Duration::from_secs(60);
    let mut large = (4, 8 * 1024);
    let mut merge_slashes = true;
    // http-level values of server-level settings first, then the server's own.
    for x in http_body.iter().chain(body) {
        match x.name.as_str() {
            "client_header_timeout" => {
                client_header_timeout = values::time(&x.args[0])
                    .ok_or_else(|| x.err("\"client_header_timeout\" directive invalid value"))?
            }
            "large_client_header_buffers" => {
                let n = values::number(&x.args[0]);
                let s = values::size(&x.args[1]);
                match (n, s) {
                    (Some(n), Some(s)) if n > 0 && s > 0 => large = (n as usize, s as usize),
                    _ => {
                        return Err(x.err("\"large_client_header_buffers\" directive invalid value"))
                    }
                }
            }
            "merge_slashes" => merge_slashes = x.args[0] == "on",
            _ => {}
        }
    }
    for x in body {
        match x.name.as_str() {
            "listen" => {
                let l = parse_listen(x)?;
                if listens.iter().any(|o| o.addr == l.addr) {
                    return Err(x.err(format!("a duplicate listen {}", l.addr)));
                }
                listens.push(l);
            }
            "server_name" => {
                for n in &x.args {
                    if first_name.is_empty() {
                        first_name = n.clone();
                    }
                    names.push(server_name(b, x, n)?);
                }
            }
            _ => {}
        }
    }
    if listens.is_empty() {
        let port = if unsafe_is_root() { 80 } else { 8000 };
        listens.push(Listen {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            default_server: false,
            http2: false,
            ssl: false,
            reuseport: false,
            backlog: 511,
        });
    }
    let script = compile_script(b, body, None)?;
    let mut locations = vec![];
    let mut named = HashMap::new();
    let mut seen = HashSet::new();
    for ld in body.iter().filter(|x| x.name == "location") {
        let loc = build_location(b, ld, None, "", &conf)?;
        if !seen.insert(loc.conf.name.clone()) {
            return Err(ld.err(format!("duplicate location \"{}\"", loc_text(&loc.kind))));
        }
        let loc = Arc::new(loc);
        if let LocKind::Named(n) = &loc.kind {
            named.insert(n.clone(), loc);
        } else {
            locations.push(loc);
        }
    }
    fn proxied_dirs(list: &[Arc<Location>], out: &mut Vec<String>) {
        for l in list {
            if let super::LocKind::Prefix { prefix, .. } = &l.kind {
                if let Some(dir) = prefix.strip_suffix('/') {
                    if l.conf.proxy_pass.is_some() && !dir.is_empty() {
                        out.push(dir.to_string());
                    }
                }
            }
            proxied_dirs(&l.children, out);
        }
    }
    let mut auto_redirects = vec![];
    proxied_dirs(&locations, &mut auto_redirects);
    let ssl_listen = body
        .iter()
        .find(|x| x.name == "listen" && x.args.iter().any(|a| a == "ssl"));
    let acme = super::acme::server_certificate(&b.acme_issuers, body)?;
    if let Some(m) = &acme.managed {
        b.acme.push(m.clone());
    }
    if let Some(i) = &acme.on_demand {
        b.acme_on_demand.push(i.clone());
    }
    let tls = super::ssl::server_tls(b, http_body, body, ssl_listen, &acme)?;
    // `http2 on` (nginx 1.25): HTTP/2 on every listen of the server.
    if http_body
        .iter()
        .chain(body)
        .rfind(|x| x.name == "http2")
        .is_some_and(|x| x.args[0] == "on")
    {
        for l in &mut listens {
            l.http2 = true;
        }
    }
    Ok(Server {
        auto_redirects,
        tls,
        names,
        first_name,
        listens,
        script,
        locations,
        named,
        conf: Arc::new(conf),
        client_header_timeout,
        large_header_buffers: large,
        merge_slashes,
    })
}

fn unsafe_is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn server_name(b: &mut Builder, d: &Directive, n: &str) -> Result<ServerName> {
    if let Some(re) = n.strip_prefix('~') {
        let regex = Regex::new(re, true).map_err(|e| d.err(e))?;
        b.declare_captures(&regex);
        return Ok(ServerName::Regex(regex));
    }
    let n = n.to_ascii_lowercase();
    if let Some(rest) = n.strip_prefix("*.") {
        return Ok(ServerName::Suffix(format!(".{rest}"), false));
    }
    if n.starts_with('.') {
        return Ok(ServerName::Suffix(n, true));
    }
    if let Some(rest) = n.strip_suffix(".*") {
        return Ok(ServerName::Prefix(format!("{rest}.")));
    }
    Ok(ServerName::Exact(n))
}

fn parse_listen(d: &Directive) -> Result<Listen> {
    let spec = &d.args[0];
    let invalid_port = || {
        d.err(format!(
            "invalid port in \"{spec}\" of the \"listen\" directive"
        ))
    };
    let port_of = |p: &str, allow_zero: bool| -> Result<u16> {
        match values::number(p) {
            Some(n) if n <= 65535 && (n > 0 || allow_zero) => Ok(n as u16),
            _ => Err(invalid_port()),
        }
    };
    // A bare `0` is an error as in nginx; `ADDR:0` asks for an ephemeral port (an OpenClaw
    // extension used by tests).
    let addr = if let Some(rest) = spec.strip_prefix('[') {
        let (host, port) = rest.split_once("]:").ok_or_else(invalid_port)?;
        let ip: Ipv6Addr = host.parse().map_err(|_| {
            d.err(format!(
                "invalid host in \"{spec}\" of the \"listen\" directive"
            ))
        })?;
        SocketAddr::new(IpAddr::V6(ip), port_of(port, true)?)
    } else if let Some((host, port)) = spec.rsplit_once(':') {
        let port = port_of(port, true)?;
        if host == "*" {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            SocketAddr::new(ip, port)
        } else {
            (host, port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut it| it.next())
                .ok_or_else(|| {
                    d.err(format!(
                        "host not found in \"{spec}\" of the \"listen\" directive"
                    ))
                })?
        }
    } else if spec.bytes().all(|c| c.is_ascii_digit()) {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port_of(spec, false)?)
    } else if let Ok(ip) = spec.parse::<IpAddr>() {
        SocketAddr::new(ip, 80)
    } else {
        return Err(invalid_port());
    };
    let mut l = Listen {
        addr,
        default_server: false,
        http2: false,
        ssl: false,
        reuseport: false,
        backlog: 511,
    };
    for p in &d.args[1..] {
        match p.as_str() {
            "default_server" | "default" => l.default_server = true,
            "http2" => l.http2 = true,
            "ssl" => l.ssl = true,
            "reuseport" => l.reuseport = true,
            "deferred" | "bind" | "so_keepalive=on" | "so_keepalive=off" | "ipv6only=on" => {}
            _ if p.starts_with("backlog=") => {
                l.backlog = p[8..]
                    .parse()
                    .map_err(|_| d.err(format!("invalid backlog \"{}\"", &p[8..])))?
            }
            _ if p.starts_with("rcvbuf=") || p.starts_with("sndbuf=") => {}
            _ => return Err(d.err(format!("invalid parameter \"{p}\""))),
        }
    }
    Ok(l)
}

fn group_sockets(servers: &[Arc<Server>], http_body: &[Directive]) -> Result<Vec<ListenSocket>> {
    let mut sockets: Vec<ListenSocket> = vec![];
    let server_dirs: Vec<&Directive> = http_body.iter().filter(|x| x.name == "server").collect();
    for (i, s) in servers.iter().enumerate() {
        for l in &s.listens {
            let pos = sockets.iter().position(|k| k.addr == l.addr);
            let sock = match pos {
                Some(p) => &mut sockets[p],
                None => {
                    sockets.push(ListenSocket {
                        addr: l.addr,
                        http2: false,
                        ssl: false,
                        reuseport: false,
                        backlog: 511,
                        servers: vec![],
                        default_server: i,
                    });
                    sockets.last_mut().expect("just pushed")
                }
            };
            if l.default_server {
                if pos.is_some() && sock.servers.contains(&sock.default_server) && {
                    let prev = &servers[sock.default_server];
                    prev.listens
                        .iter()
                        .any(|pl| pl.addr == l.addr && pl.default_server)
                } {
                    let line = server_dirs[i]
                        .children()
                        .iter()
                        .find(|x| {
                            x.name == "listen"
                                && x.args
                                    .iter()
                                    .any(|a| a == "default_server" || a == "default")
                        })
                        .map(|x| x.line)
                        .unwrap_or(server_dirs[i].line);
                    let at = Directive {
                        line,
                        ..server_dirs[i].clone()
                    };
                    return Err(at.err(format!("a duplicate default server for {}", l.addr)));
                }
                sock.default_server = i;
            }
            sock.http2 |= l.http2;
            sock.ssl |= l.ssl;
            sock.reuseport |= l.reuseport;
            if l.backlog != 511 {
                sock.backlog = l.backlog;
            }
            sock.servers.push(i);
        }
    }
    Ok(sockets)
}
