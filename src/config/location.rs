//! Location-level configuration: the merged per-location settings ([`LocConf`]), the
//! location tree, and the rewrite-module script (`rewrite`, `return`, `set`, `if`, `break`).

use super::parser::Directive;
use super::values;
use super::Builder;
use crate::error::{Error, Result};
use crate::re::Regex;
use crate::vars::Complex;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// One `limit_req` of a location.
#[derive(Debug, Clone)]
pub struct LimitReq {
    pub zone: Arc<crate::limit::LimitZone>,
    pub key: Complex,
    /// In milli-requests.
    pub burst: u64,
    /// In milli-requests; `u64::MAX` is `nodelay`.
    pub delay: u64,
    /// `redis=`: the zone's state is in Redis (one limit across nodes).
    pub redis: Option<Arc<crate::limit::RedisLimit>>,
}

/// One `limit_conn` of a location.
#[derive(Debug, Clone)]
pub struct LimitConn {
    pub zone: Arc<crate::limit::ConnZone>,
    pub key: Complex,
    pub max: u64,
}

/// A Lua handler as configured: inline source or a file path (with variables).
#[derive(Debug)]
pub struct LuaChunk {
    /// Unique within a generation: the key of the compiled function in each VM.
    pub id: usize,
    /// OpenResty's chunk name, e.g. `content_by_lua(nginx.conf:12)`.
    pub name: String,
    pub code: LuaCode,
}

#[derive(Debug)]
pub enum LuaCode {
    Inline(String),
    File(Complex),
}

/// The Lua handlers of a location, by phase.
#[derive(Debug, Clone, Default)]
pub struct LuaHandlers {
    pub rewrite: Option<Arc<LuaChunk>>,
    pub access: Option<Arc<LuaChunk>>,
    pub content: Option<Arc<LuaChunk>>,
    pub header_filter: Option<Arc<LuaChunk>>,
    pub body_filter: Option<Arc<LuaChunk>>,
    pub log: Option<Arc<LuaChunk>>,
}

/// `root` or `alias`.
#[derive(Debug, Clone)]
pub struct Root {
    pub path: Complex,
    pub alias: bool,
}

#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub codes: Vec<u16>,
    /// `=CODE` -> Some(Some(code)); a bare `=` -> Some(None) (the target's status).
    pub overwrite: Option<Option<u16>>,
    pub target: Complex,
}

#[derive(Debug, Clone)]
pub struct AddHeader {
    pub name: String,
    pub value: Complex,
    pub always: bool,
}

/// One `allow`/`deny` rule; `net: None` is `all`.
#[derive(Debug, Clone)]
pub struct AccessRule {
    pub allow: bool,
    pub net: Option<(IpAddr, u8)>,
}

/// One `access_log` target: an index into the generation's log files, and the format.
#[derive(Debug, Clone)]
pub struct AccessLogSpec {
    pub file: usize,
    pub format: Arc<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    Default,
    Json,
    None,
}

#[derive(Debug)]
pub struct LogFormat {
    pub name: String,
    pub escape: Escape,
    pub value: Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImsMode {
    Off,
    Exact,
    Before,
}

/// Settings of one location, already merged with its parents (nginx's merge step).
#[derive(Debug, Clone)]
pub struct LocConf {
    /// The location's name as written (`/`, `= /x`, `~ re`, `@n`); empty at server level.
    pub name: String,
    pub root: Root,
    pub index: Vec<Complex>,
    pub try_files: Option<Vec<Complex>>,
    pub types: Arc<HashMap<String, String>>,
    pub default_type: String,
    /// `default_type` ready to send.
    pub default_type_value: http::HeaderValue,
    pub error_pages: Arc<Vec<ErrorPage>>,
    pub internal: bool,
    pub keepalive_timeout: Duration,
    pub keepalive_header: Option<u64>,
    pub keepalive_requests: u64,
    pub client_max_body_size: u64,
    pub client_body_timeout: Duration,
    pub send_timeout: Duration,
    pub server_tokens: bool,
    pub add_headers: Arc<Vec<AddHeader>>,
    /// The echo module's content handler and filters (not inherited).
    pub echo: super::EchoConf,
    /// headers-more's output commands, outer levels first.
    pub more_headers: Arc<Vec<super::MoreHeaders>>,
    /// headers-more's input commands, outer levels first.
    pub more_input_headers: Arc<Vec<super::MoreHeaders>>,
    pub access: Arc<Vec<AccessRule>>,
    /// Empty means `access_log off`.
    pub access_logs: Arc<Vec<AccessLogSpec>>,
    pub absolute_redirect: bool,
    pub port_in_redirect: bool,
    pub server_name_in_redirect: bool,
    pub log_not_found: bool,
    pub log_subrequest: bool,
    pub etag: bool,
    /// Small static files are served from a per-worker copy checked by one stat.
    pub static_file_cache: bool,
    pub if_modified_since: ImsMode,
    pub recursive_error_pages: bool,
    pub uninitialized_variable_warn: bool,
    pub lua: LuaHandlers,
    pub lua_code_cache: bool,
    /// `lua_need_request_body`: read the whole body before rewrite/access/content handlers.
    pub lua_need_request_body: bool,
    /// `lua_check_client_abort`: watch for the client closing while Lua handlers run
    /// (then `ngx.on_abort`'s callback runs, or the request ends with 499).
    pub lua_check_client_abort: bool,
    /// `lua_socket_*`: cosocket defaults.
    pub lua_socket: super::LuaSocketConf,
    pub limit_reqs: Arc<Vec<LimitReq>>,
    pub limit_req_status: u16,
    pub limit_req_log_level: crate::observe::Level,
    pub limit_req_dry_run: bool,
    pub limit_conns: Arc<Vec<LimitConn>>,
    pub limit_conn_status: u16,
    pub limit_conn_log_level: crate::observe::Level,
    pub limit_conn_dry_run: bool,
    /// `proxy_pass` of this location (not inherited by nested locations).
    pub proxy_pass: Option<Arc<super::ProxyPass>>,
    pub proxy: Arc<super::ProxyConf>,
    pub compress: Arc<super::CompressConf>,
    pub keys: Arc<super::KeysConf>,
    /// `resolver` (with `resolver_timeout` applied).
    pub resolver: Option<Arc<crate::resolver::Resolver>>,
    pub resolver_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteFlag {
    None,
    Last,
    Break,
    Redirect,
    Permanent,
}

#[derive(Debug, Clone)]
pub enum Cond {
    /// True when the value is neither empty nor "0".
    Value(Complex),
    Eq(Complex, Complex, bool),
    Regex(Complex, Regex, bool),
    /// `-f`, `-d`, `-e`, `-x` (the char), negated when the bool is true.
    File(Complex, u8, bool),
}

/// One rewrite-module instruction.
#[derive(Debug, Clone)]
pub enum Op {
    Rewrite {
        regex: Regex,
        replacement: Complex,
        flag: RewriteFlag,
    },
    Return {
        code: u16,
        text: Option<Complex>,
        /// The text when it has no variables, ready to send.
        fixed: Option<bytes::Bytes>,
    },
    Set {
        name: Arc<str>,
        value: Complex,
    },
    /// `set_by_lua*`: the handler's return value becomes the variable.
    SetLua {
        name: Arc<str>,
        chunk: Arc<LuaChunk>,
        args: Vec<Complex>,
    },
    If {
        cond: Cond,
        ops: Vec<Op>,
        /// For an `if` inside a location: the settings that apply when it matches.
        conf: Option<Arc<LocConf>>,
    },
    Break,
    /// A set-misc directive (`set_unescape_uri`, `set_md5`, ...).
    SetMisc {
        name: Arc<str>,
        value: Complex,
        f: super::set_misc::SetFn,
    },
}

#[derive(Debug, Clone)]
pub enum LocKind {
    Exact(String),
    Prefix { prefix: String, noregex: bool },
    Regex(Regex),
    Named(String),
}

#[derive(Debug)]
pub struct Location {
    pub kind: LocKind,
    pub conf: Arc<LocConf>,
    pub script: Vec<Op>,
    pub children: Vec<Arc<Location>>,
}

impl LocConf {
    /// nginx's defaults at the http level.
    pub fn defaults(b: &Builder) -> LocConf {
        LocConf {
            name: String::new(),
            root: Root {
                path: Complex::literal(&b.prefix.join("html").display().to_string()),
                alias: false,
            },
            index: vec![Complex::literal("index.html")],
            try_files: None,
            types: Arc::new(default_types()),
            default_type: "text/plain".into(),
            default_type_value: http::HeaderValue::from_static("text/plain"),
            error_pages: Arc::default(),
            internal: false,
            keepalive_timeout: Duration::from_secs(75),
            keepalive_header: None,
            keepalive_requests: 1000,
            client_max_body_size: 1024 * 1024,
            client_body_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            server_tokens: true,
            add_headers: Arc::default(),
            more_headers: Arc::default(),
            more_input_headers: Arc::default(),
            echo: super::EchoConf::default(),
            access: Arc::default(),
            access_logs: Arc::default(),
            absolute_redirect: true,
            port_in_redirect: true,
            server_name_in_redirect: false,
            log_not_found: true,
            log_subrequest: false,
            etag: true,
            static_file_cache: true,
            if_modified_since: ImsMode::Exact,
            recursive_error_pages: false,
            uninitialized_variable_warn: true,
            lua: LuaHandlers::default(),
            lua_code_cache: true,
            lua_need_request_body: false,
            lua_check_client_abort: false,
            lua_socket: super::LuaSocketConf::default(),
            limit_reqs: Arc::default(),
            limit_req_status: 503,
            limit_req_log_level: crate::observe::Level::Error,
            limit_req_dry_run: false,
            limit_conns: Arc::default(),
            limit_conn_status: 503,
            limit_conn_log_level: crate::observe::Level::Error,
            limit_conn_dry_run: false,
            proxy_pass: None,
            proxy: Arc::default(),
            compress: Arc::default(),
            keys: Arc::default(),
            resolver: None,
            resolver_timeout: super::resolver::DEFAULT_TIMEOUT,
        }
    }
}

/// nginx's built-in types when no `types` block is given.
fn default_types() -> HashMap<String, String> {
    [
        ("html", "text/html"),
        ("gif", "image/gif"),
        ("jpg", "image/jpeg"),
    ]
    .iter()
    .map(|(e, t)| (e.to_string(), t.to_string()))
    .collect()
}

/// Applies the settings directives of one level onto `conf` (a copy of the parent's).
/// Array-valued settings replace, not extend, the inherited ones, as in nginx.
pub fn apply_settings(b: &mut Builder, conf: &mut LocConf, dirs: &[Directive]) -> Result<()> {
    let mut here: HashSet<&str> = HashSet::new();
    for d in dirs {
        let a = &d.args;
        let first = here.insert(d.name.as_str());
        let dup = || d.err(format!("\"{}\" directive is duplicate", d.name));
        match d.name.as_str() {
            "root" | "alias" => {
                if !first {
                    return Err(dup());
                }
                let other = if d.name == "root" { "alias" } else { "root" };
                if here.contains(other) {
                    return Err(d.err(format!(
                        "\"{}\" directive is duplicate, \"{}\" directive was specified earlier",
                        d.name, other
                    )));
                }
                let mut path = a[0].clone();
                if d.name == "root" && path.ends_with('/') && path.len() > 1 {
                    path.pop();
                }
                let full = if path.starts_with('/') || path.starts_with('$') {
                    path
                } else {
                    b.prefix.join(&path).display().to_string()
                };
                conf.root = Root {
                    path: b.complex(d, &full)?,
                    alias: d.name == "alias",
                };
            }
            "index" => {
                if first {
                    conf.index.clear();
                }
                for v in a {
                    if v.is_empty() {
                        return Err(
                            d.err(format!("index \"{v}\" in \"index\" directive is invalid"))
                        );
                    }
                    conf.index.push(b.complex(d, v)?);
                }
            }
            "try_files" => {
                if !first {
                    return Err(dup());
                }
                let mut v = vec![];
                for x in a {
                    v.push(b.complex(d, x)?);
                }
                conf.try_files = Some(v);
            }
            "types" => {
                if !first {
                    return Err(dup());
                }
                let mut t = HashMap::new();
                for line in d.children() {
                    for ext in &line.args {
                        t.insert(ext.to_ascii_lowercase(), line.name.clone());
                    }
                }
                conf.types = Arc::new(t);
            }
            "default_type" => {
                conf.default_type_value = http::HeaderValue::from_str(&a[0])
                    .map_err(|_| d.err(format!("invalid value \"{}\"", a[0])))?;
                conf.default_type = a[0].clone();
            }
            "error_page" => {
                if first {
                    conf.error_pages = Arc::default();
                }
                let page = error_page(b, d)?;
                Arc::make_mut(&mut conf.error_pages).push(page);
            }
            "internal" => conf.internal = true,
            "keepalive_timeout" => {
                conf.keepalive_timeout = values::time(&a[0]).ok_or_else(|| invalid(d))?;
                if let Some(h) = a.get(1) {
                    let t = values::time(h).ok_or_else(|| invalid(d))?;
                    conf.keepalive_header = Some(t.as_secs());
                }
            }
            "keepalive_requests" => {
                conf.keepalive_requests = values::number(&a[0])
                    .ok_or_else(|| d.err(format!("\"{}\" directive invalid number", d.name)))?;
            }
            "client_max_body_size" => {
                conf.client_max_body_size = values::size(&a[0]).ok_or_else(|| invalid(d))?;
            }
            "client_body_timeout" => {
                conf.client_body_timeout = values::time(&a[0]).ok_or_else(|| invalid(d))?
            }
            "send_timeout" => conf.send_timeout = values::time(&a[0]).ok_or_else(|| invalid(d))?,
            "server_tokens" => {
                conf.server_tokens = match a[0].as_str() {
                    "on" | "build" => true,
                    "off" => false,
                    v => return Err(d.err(format!("invalid value \"{v}\""))),
                }
            }
            "add_header" => {
                if first {
                    conf.add_headers = Arc::default();
                }
                let always = match a.get(2).map(String::as_str) {
                    None => false,
                    Some("always") => true,
                    Some(v) => return Err(d.err(format!("invalid parameter \"{v}\""))),
                };
                let h = AddHeader {
                    name: a[0].clone(),
                    value: b.complex(d, &a[1])?,
                    always,
                };
                Arc::make_mut(&mut conf.add_headers).push(h);
            }
            "allow" | "deny" => {
                if !here.contains("access-rules") {
                    here.insert("access-rules");
                    conf.access = Arc::default();
                }
                let net = if a[0] == "all" {
                    None
                } else {
                    Some(
                        parse_cidr(&a[0])
                            .ok_or_else(|| d.err(format!("invalid parameter \"{}\"", a[0])))?,
                    )
                };
                Arc::make_mut(&mut conf.access).push(AccessRule {
                    allow: d.name == "allow",
                    net,
                });
            }
            "access_log" => {
                if first {
                    conf.access_logs = Arc::default();
                }
                if a[0] == "off" {
                    if let Some(extra) = a.get(1) {
                        return Err(d.err(format!("invalid parameter \"{extra}\"")));
                    }
                    continue;
                }
                let spec = b.access_log(d)?;
                Arc::make_mut(&mut conf.access_logs).push(spec);
            }
            // Connection-level settings, applied per server; validated here at any level.
            "client_header_timeout" => {
                values::time(&a[0]).ok_or_else(|| invalid(d))?;
            }
            "large_client_header_buffers" => match (values::number(&a[0]), values::size(&a[1])) {
                (Some(n), Some(s)) if n > 0 && s > 0 => {}
                _ => return Err(invalid(d)),
            },
            "absolute_redirect" => conf.absolute_redirect = a[0] == "on",
            "port_in_redirect" => conf.port_in_redirect = a[0] == "on",
            "server_name_in_redirect" => conf.server_name_in_redirect = a[0] == "on",
            "log_not_found" => conf.log_not_found = a[0] == "on",
            "log_subrequest" => conf.log_subrequest = a[0] == "on",
            "etag" => conf.etag = a[0] == "on",
            "static_file_cache" => conf.static_file_cache = a[0] == "on",
            "recursive_error_pages" => conf.recursive_error_pages = a[0] == "on",
            "lua_code_cache" => conf.lua_code_cache = a[0] == "on",
            "lua_need_request_body" => conf.lua_need_request_body = a[0] == "on",
            "lua_check_client_abort" => conf.lua_check_client_abort = a[0] == "on",
            n if n.starts_with("lua_socket_") => super::lua_socket::apply(conf, d)?,
            "limit_req" => {
                if first {
                    conf.limit_reqs = Arc::default();
                }
                let mut zone = None;
                let mut burst = 0u64;
                let mut delay = 0u64;
                for x in a {
                    if let Some(z) = x.strip_prefix("zone=") {
                        zone = Some(z.to_string());
                    } else if let Some(v) = x.strip_prefix("burst=") {
                        burst = values::number(v)
                            .ok_or_else(|| d.err(format!("invalid burst value \"{x}\"")))?
                            * 1000;
                    } else if let Some(v) = x.strip_prefix("delay=") {
                        delay = values::number(v)
                            .ok_or_else(|| d.err(format!("invalid delay value \"{x}\"")))?
                            * 1000;
                    } else if x == "nodelay" {
                        delay = u64::MAX;
                    } else {
                        return Err(d.err(format!("invalid parameter \"{x}\"")));
                    }
                }
                let Some(zone) = zone else {
                    return Err(d.err("\"limit_req\" must have \"zone\" parameter"));
                };
                let Some((z, key, redis)) = b.limit_zones.get(&zone).cloned() else {
                    return Err(Error::config(format!(
                        "zero size shared memory zone \"{zone}\""
                    )));
                };
                Arc::make_mut(&mut conf.limit_reqs).push(LimitReq {
                    zone: z,
                    key,
                    burst,
                    delay,
                    redis,
                });
            }
            "limit_req_status" => {
                conf.limit_req_status = values::number(&a[0])
                    .filter(|c| (400..=599).contains(c))
                    .ok_or_else(|| {
                        d.err(format!("value \"{}\" must be between 400 and 599", a[0]))
                    })? as u16;
            }
            "limit_req_log_level" => {
                conf.limit_req_log_level = match a[0].as_str() {
                    "info" => crate::observe::Level::Info,
                    "notice" => crate::observe::Level::Notice,
                    "warn" => crate::observe::Level::Warn,
                    "error" => crate::observe::Level::Error,
                    v => return Err(d.err(format!("invalid value \"{v}\""))),
                }
            }
            "limit_req_dry_run" => conf.limit_req_dry_run = a[0] == "on",
            "limit_conn" => {
                if first {
                    conf.limit_conns = Arc::default();
                }
                let Some((zone, key)) = b.conn_zones.get(&a[0]).cloned() else {
                    return Err(Error::config(format!(
                        "zero size shared memory zone \"{}\"",
                        a[0]
                    )));
                };
                let max = values::number(&a[1])
                    .filter(|n| *n > 0 && *n <= 65535)
                    .ok_or_else(|| d.err(format!("invalid number of connections \"{}\"", a[1])))?;
                Arc::make_mut(&mut conf.limit_conns).push(LimitConn { zone, key, max });
            }
            "limit_conn_status" => {
                conf.limit_conn_status = values::number(&a[0])
                    .filter(|c| (400..=599).contains(c))
                    .ok_or_else(|| {
                    d.err(format!("value \"{}\" must be between 400 and 599", a[0]))
                })? as u16;
            }
            "limit_conn_log_level" => {
                conf.limit_conn_log_level = match a[0].as_str() {
                    "info" => crate::observe::Level::Info,
                    "notice" => crate::observe::Level::Notice,
                    "warn" => crate::observe::Level::Warn,
                    "error" => crate::observe::Level::Error,
                    v => return Err(d.err(format!("invalid value \"{v}\""))),
                }
            }
            "limit_conn_dry_run" => conf.limit_conn_dry_run = a[0] == "on",
            n if n.starts_with("rewrite_by_lua")
                || n.starts_with("access_by_lua")
                || n.starts_with("content_by_lua")
                || n.starts_with("header_filter_by_lua")
                || n.starts_with("body_filter_by_lua")
                || n.starts_with("log_by_lua") =>
            {
                if !first {
                    return Err(dup());
                }
                let chunk = Some(lua_chunk(b, d)?);
                match n.split("_by_").next() {
                    Some("rewrite") => conf.lua.rewrite = chunk,
                    Some("access") => conf.lua.access = chunk,
                    Some("header_filter") => conf.lua.header_filter = chunk,
                    Some("body_filter") => conf.lua.body_filter = chunk,
                    Some("log") => conf.lua.log = chunk,
                    _ => {
                        conf.lua.content = chunk;
                        conf.proxy_pass = None;
                    }
                }
            }
            n if n.starts_with("proxy_") || n.starts_with("grpc_") => {
                super::proxy::apply(b, conf, d, first)?
            }
            "resolver" => {
                conf.resolver = Some(super::resolver::build(d, conf.resolver_timeout)?);
            }
            "resolver_timeout" => {
                conf.resolver_timeout = super::resolver::timeout(d)?;
                if let Some(r) = &conf.resolver {
                    conf.resolver = Some(Arc::new(crate::resolver::Resolver::new(
                        r.servers.clone(),
                        r.valid,
                        r.ipv6,
                        conf.resolver_timeout,
                    )));
                }
            }
            "api_key_check_header"
            | "api_key_check_arg"
            | "api_key_scope"
            | "api_key_limit_rate" => super::keys::apply(b, conf, d)?,
            n if super::echo::NAMES.contains(&n) => super::echo::apply(b, conf, d)?,
            "more_set_headers"
            | "more_clear_headers"
            | "more_set_input_headers"
            | "more_clear_input_headers" => super::headers_more::apply(b, conf, d)?,
            n if n.starts_with("gzip") || n.starts_with("brotli") || n.starts_with("zstd") => {
                super::compress::apply(conf, d, first)?
            }
            "uninitialized_variable_warn" => conf.uninitialized_variable_warn = a[0] == "on",
            "if_modified_since" => {
                conf.if_modified_since = match a[0].as_str() {
                    "off" => ImsMode::Off,
                    "exact" => ImsMode::Exact,
                    "before" => ImsMode::Before,
                    v => return Err(d.err(format!("invalid value \"{v}\""))),
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Builds a Lua chunk from `*_by_lua_block`, `*_by_lua_file` or `*_by_lua`.
pub fn lua_chunk(b: &mut Builder, d: &Directive) -> Result<Arc<LuaChunk>> {
    let phase = d.name.split("_by_").next().unwrap_or("content");
    let file = std::path::Path::new(&*d.file)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let code = if let Some(src) = &d.lua {
        LuaCode::Inline(src.clone())
    } else if d.name.ends_with("_file") {
        let p = &d.args[0];
        let full = if p.starts_with('/') || p.starts_with('$') {
            p.clone()
        } else {
            b.prefix.join(p).display().to_string()
        };
        LuaCode::File(b.complex(d, &full)?)
    } else {
        LuaCode::Inline(d.args[0].clone())
    };
    let name = match &code {
        LuaCode::File(_) => String::new(),
        LuaCode::Inline(_) => format!("{phase}_by_lua({file}:{})", d.line),
    };
    b.lua_chunks += 1;
    Ok(Arc::new(LuaChunk {
        id: b.lua_chunks,
        name,
        code,
    }))
}

fn invalid(d: &Directive) -> crate::error::Error {
    d.err(format!("\"{}\" directive invalid value", d.name))
}

fn error_page(b: &mut Builder, d: &Directive) -> Result<ErrorPage> {
    let a = &d.args;
    let target = a.last().cloned().unwrap_or_default();
    let mut codes = vec![];
    let mut overwrite = None;
    for v in &a[..a.len() - 1] {
        if let Some(rest) = v.strip_prefix('=') {
            if rest.is_empty() {
                overwrite = Some(None);
            } else {
                let c = values::number(rest)
                    .filter(|c| *c <= 999)
                    .ok_or_else(|| d.err(format!("invalid value \"{v}\"")))?;
                overwrite = Some(Some(c as u16));
            }
            continue;
        }
        let c = values::number(v).ok_or_else(|| d.err(format!("invalid value \"{v}\"")))?;
        if !(300..=599).contains(&c) {
            return Err(d.err(format!("value \"{v}\" must be between 300 and 599")));
        }
        codes.push(c as u16);
    }
    if codes.is_empty() {
        return Err(d.err("invalid number of arguments in \"error_page\" directive"));
    }
    Ok(ErrorPage {
        codes,
        overwrite,
        target: b.complex(d, &target)?,
    })
}

/// `1.2.3.4`, `10.0.0.0/8`, `::1`, `2001:db8::/32`.
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        Some(b) => values::number(b).filter(|n| *n <= max)? as u8,
        None => max as u8,
    };
    Some((ip, bits))
}

/// Does `ip` fall within `net/bits`?
pub fn cidr_contains(net: &(IpAddr, u8), ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match (net.0, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if net.1 == 0 {
                0
            } else {
                u32::MAX << (32 - net.1)
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if net.1 == 0 {
                0
            } else {
                u128::MAX << (128 - net.1)
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Compiles the rewrite-module directives of one level, in order. `conf` is this level's
/// merged settings: an `if` at location level derives its own from it.
pub fn compile_script(
    b: &mut Builder,
    dirs: &[Directive],
    conf: Option<&LocConf>,
) -> Result<Vec<Op>> {
    let mut ops = vec![];
    for d in dirs {
        let a = &d.args;
        match d.name.as_str() {
            "rewrite" => {
                let regex = Regex::new(&a[0], false).map_err(|e| d.err(e))?;
                b.declare_captures(&regex);
                let flag = match a.get(2).map(String::as_str) {
                    None => RewriteFlag::None,
                    Some("last") => RewriteFlag::Last,
                    Some("break") => RewriteFlag::Break,
                    Some("redirect") => RewriteFlag::Redirect,
                    Some("permanent") => RewriteFlag::Permanent,
                    Some(v) => return Err(d.err(format!("invalid parameter \"{v}\""))),
                };
                ops.push(Op::Rewrite {
                    regex,
                    replacement: b.complex(d, &a[1])?,
                    flag,
                });
            }
            "return" => ops.push(compile_return(b, d)?),
            "set" => {
                let name = var_name(d, &a[0])?;
                b.names.declared.insert(name.to_string());
                ops.push(Op::Set {
                    name: name.into(),
                    value: b.complex(d, &a[1])?,
                });
            }
            "break" => ops.push(Op::Break),
            n if super::set_misc::NAMES.contains(&n) => ops.push(super::set_misc::op(b, d)?),
            n if n.starts_with("set_by_lua") => {
                let name = var_name(d, &a[0])?;
                b.names.declared.insert(name.to_string());
                // The chunk is the block, or the file/code argument; the rest are ngx.arg.
                let (chunk, rest) = if d.lua.is_some() {
                    (lua_chunk(b, d)?, &a[1..])
                } else {
                    let mut shifted = d.clone();
                    shifted.args = a[1..].to_vec();
                    (lua_chunk(b, &shifted)?, &a[2..])
                };
                let mut args = vec![];
                for x in rest {
                    args.push(b.complex(d, x)?);
                }
                ops.push(Op::SetLua {
                    name: name.into(),
                    chunk,
                    args,
                });
            }
            "if" => {
                let cond = compile_cond(b, d)?;
                let body = d.children();
                let if_conf = match conf {
                    Some(parent) => {
                        let mut c = parent.clone();
                        apply_settings(b, &mut c, body)?;
                        Some(Arc::new(c))
                    }
                    None => None,
                };
                let inner = compile_script(b, body, if_conf.as_deref())?;
                ops.push(Op::If {
                    cond,
                    ops: inner,
                    conf: if_conf,
                });
            }
            _ => {}
        }
    }
    Ok(ops)
}

/// `$name` -> `name`, or nginx's `invalid variable name "x"`.
pub fn var_name<'a>(d: &Directive, s: &'a str) -> Result<&'a str> {
    match s.strip_prefix('$') {
        Some(n) if !n.is_empty() => Ok(n),
        _ => Err(d.err(format!("invalid variable name \"{s}\""))),
    }
}

fn compile_return(b: &mut Builder, d: &Directive) -> Result<Op> {
    let a = &d.args;
    if a.len() == 1 {
        let v = &a[0];
        if v.starts_with("http://") || v.starts_with("https://") || v.starts_with("$scheme") {
            return Ok(Op::Return {
                code: 302,
                text: Some(b.complex(d, v)?),
                fixed: None,
            });
        }
    }
    let code = values::number(&a[0])
        .filter(|c| *c <= 999)
        .ok_or_else(|| d.err(format!("invalid return code \"{}\"", a[0])))?;
    let text = match a.get(1) {
        Some(t) => Some(b.complex(d, t)?),
        None => None,
    };
    let fixed = text
        .as_ref()
        .filter(|t| t.is_static())
        .map(|t| bytes::Bytes::from(t.raw.clone()));
    Ok(Op::Return {
        code: code as u16,
        text,
        fixed,
    })
}

fn compile_cond(b: &mut Builder, d: &Directive) -> Result<Cond> {
    let a = &d.args;
    let first = &a[0];
    if !first.starts_with('(') || !a.last().is_some_and(|l| l.ends_with(')')) {
        return Err(d.err(format!("invalid condition \"{first}\"")));
    }
    // Strip the parentheses nginx requires around the condition.
    let mut words: Vec<String> = a.clone();
    words[0] = words[0][1..].to_string();
    let last = words.len() - 1;
    let l = words[last].len();
    words[last] = words[last][..l - 1].to_string();
    words.retain(|w| !w.is_empty());
    match words.as_slice() {
        [v] => {
            if !v.starts_with('$') {
                return Err(d.err(format!("invalid condition \"{v}\"")));
            }
            Ok(Cond::Value(b.complex(d, v)?))
        }
        [op, path] if op.starts_with('-') || op.starts_with("!-") => {
            let neg = op.starts_with('!');
            let c = op.trim_start_matches('!').trim_start_matches('-');
            match c {
                "f" | "d" | "e" | "x" => Ok(Cond::File(b.complex(d, path)?, c.as_bytes()[0], neg)),
                _ => Err(d.err(format!("unexpected \"{op}\" in condition"))),
            }
        }
        [lhs, op, rhs] => {
            let l = b.complex(d, lhs)?;
            match op.as_str() {
                "=" | "!=" => Ok(Cond::Eq(l, b.complex(d, rhs)?, op == "!=")),
                "~" | "~*" | "!~" | "!~*" => {
                    let re = Regex::new(rhs, op.ends_with('*')).map_err(|e| d.err(e))?;
                    b.declare_captures(&re);
                    Ok(Cond::Regex(l, re, op.starts_with('!')))
                }
                _ => Err(d.err(format!("unexpected \"{op}\" in condition"))),
            }
        }
        _ => Err(d.err(format!("invalid condition \"{}\"", a.join(" ")))),
    }
}

/// Builds a `location` and its nested locations. `parent` is the enclosing location (or
/// None at server level), `conf` the enclosing merged settings.
pub fn build_location(
    b: &mut Builder,
    d: &Directive,
    parent: Option<&LocKind>,
    parent_name: &str,
    conf: &LocConf,
) -> Result<Location> {
    let a = &d.args;
    let (kind, name) = match a.as_slice() {
        [m, p] => match m.as_str() {
            "=" => (LocKind::Exact(p.clone()), format!("= {p}")),
            "^~" => (
                LocKind::Prefix {
                    prefix: p.clone(),
                    noregex: true,
                },
                p.clone(),
            ),
            "~" | "~*" => {
                let re = Regex::new(p, m == "~*").map_err(|e| d.err(e))?;
                b.declare_captures(&re);
                (LocKind::Regex(re), format!("{m} {p}"))
            }
            _ => return Err(d.err(format!("invalid location modifier \"{m}\""))),
        },
        [p] => {
            if let Some(n) = p.strip_prefix('@') {
                (LocKind::Named(n.to_string()), p.clone())
            } else if let Some(rest) = p.strip_prefix('=').filter(|r| !r.is_empty()) {
                (LocKind::Exact(rest.to_string()), format!("= {rest}"))
            } else if let Some(rest) = p.strip_prefix("^~").filter(|r| !r.is_empty()) {
                (
                    LocKind::Prefix {
                        prefix: rest.to_string(),
                        noregex: true,
                    },
                    rest.to_string(),
                )
            } else if let Some(rest) = p.strip_prefix("~*").filter(|r| !r.is_empty()) {
                let re = Regex::new(rest, true).map_err(|e| d.err(e))?;
                b.declare_captures(&re);
                (LocKind::Regex(re), format!("~* {rest}"))
            } else if let Some(rest) = p.strip_prefix('~').filter(|r| !r.is_empty()) {
                let re = Regex::new(rest, false).map_err(|e| d.err(e))?;
                b.declare_captures(&re);
                (LocKind::Regex(re), format!("~ {rest}"))
            } else {
                (
                    LocKind::Prefix {
                        prefix: p.clone(),
                        noregex: false,
                    },
                    p.clone(),
                )
            }
        }
        _ => return Err(d.err("invalid number of arguments in \"location\" directive")),
    };
    if let Some(pk) = parent {
        match (pk, &kind) {
            (LocKind::Named(_), _) => {
                return Err(d.err(format!(
                    "location \"{}\" cannot be inside the named location \"{}\"",
                    loc_text(&kind),
                    parent_name
                )))
            }
            (LocKind::Exact(p), _) => {
                return Err(d.err(format!(
                    "location \"{}\" cannot be inside the exact location \"{}\"",
                    loc_text(&kind),
                    p
                )))
            }
            (_, LocKind::Named(_)) => {
                return Err(d.err(format!(
                    "named location \"{}\" can be on the server level only",
                    loc_text(&kind)
                )))
            }
            (LocKind::Prefix { prefix: pp, .. }, LocKind::Prefix { prefix: cp, .. })
            | (LocKind::Prefix { prefix: pp, .. }, LocKind::Exact(cp))
                if !cp.starts_with(pp.as_str()) =>
            {
                return Err(d.err(format!("location \"{cp}\" is outside location \"{pp}\"")))
            }
            _ => {}
        }
    }
    let mut c = conf.clone();
    c.name = name;
    c.internal = false;
    c.proxy_pass = None;
    // Content handlers and filters of a module are not inherited by nested locations.
    c.echo = super::EchoConf::default();
    let body = d.children();
    apply_settings(b, &mut c, body)?;
    let script = compile_script(b, body, Some(&c))?;
    let mut children: Vec<Arc<Location>> = vec![];
    let mut seen = HashSet::new();
    for cd in body.iter().filter(|x| x.name == "location") {
        let child = build_location(b, cd, Some(&kind), &c.name, &c)?;
        if !seen.insert(child.conf.name.clone()) {
            return Err(cd.err(format!("duplicate location \"{}\"", loc_text(&child.kind))));
        }
        children.push(Arc::new(child));
    }
    Ok(Location {
        kind,
        conf: Arc::new(c),
        script,
        children,
    })
}

pub fn loc_text(k: &LocKind) -> String {
    match k {
        LocKind::Exact(s) => s.clone(),
        LocKind::Prefix { prefix, .. } => prefix.clone(),
        LocKind::Regex(r) => r.pattern.to_string(),
        LocKind::Named(n) => format!("@{n}"),
    }
}
