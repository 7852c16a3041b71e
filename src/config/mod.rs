//! Configuration: nginx syntax in, a typed, validated model out.
//!
//! [`load`] reads the main file (plus `-g` directives), expands includes, checks every
//! directive against the table and builds [`Config`]. All errors carry nginx's wording and
//! `file:line`.

mod acme;
mod cache;
mod compress;
pub(crate) mod directives;
mod echo;
mod headers_more;
mod http;
mod keys;
pub(crate) mod lexer;
mod location;
mod lua_socket;
mod parser;
mod proxy;
mod resolver;
mod set_misc;
mod ssl;
mod upstream;
mod values;

pub use cache::{stale as cache_stale, CacheConf};
pub use compress::{Codec, CompressConf};
pub use echo::{EchoCmd, EchoConf, EchoText};
pub use headers_more::{MoreHeaders, MoreOp};
pub use http::{
    Computed, Http, Listen, ListenSocket, LuaSsl, MapDef, Server, ServerName, SplitDef,
};
pub use keys::{KeyLimit, KeySource, KeysConf, KeysGlobal, Tier};
pub use location::{
    cidr_contains, AccessLogSpec, AccessRule, AddHeader, Cond, ErrorPage, Escape, ImsMode,
    LimitConn, LimitReq, LocConf, LocKind, Location, LogFormat, LuaChunk, LuaCode, LuaHandlers, Op,
    RewriteFlag, Root,
};
pub use lua_socket::LuaSocketConf;
pub use parser::Directive;
pub use proxy::{
    next as next_upstream, parse_url, ProxyConf, ProxyPass, ProxyTarget, Redirect, RedirectFrom,
    UpstreamTls,
};
pub use set_misc::SetFn;
pub use ssl::{ServerTls, VerifyClient};
pub use upstream::{split_host_port_or, UpstreamDef};

use crate::error::{Error, Result};
use crate::observe::Level;
use crate::re::Regex;
use crate::vars::{Complex, Names};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the error log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    File(PathBuf),
    Stderr,
}

/// Main-context settings.
#[derive(Debug, Clone)]
pub struct Main {
    pub worker_processes: usize,
    pub daemon: bool,
    pub master_process: bool,
    pub pid: PathBuf,
    pub error_log: LogTarget,
    pub error_level: Level,
    pub worker_connections: usize,
    pub env: Vec<String>,
}

/// A whole, validated configuration.
#[derive(Debug)]
pub struct Config {
    pub prefix: PathBuf,
    pub conf_file: PathBuf,
    pub main: Main,
    pub http: Option<Http>,
    /// Notices collected while parsing (ignored nginx directives).
    pub notices: Vec<String>,
}

/// What the command line contributes to loading.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub prefix: PathBuf,
    pub conf_file: PathBuf,
    /// `-g` directives.
    pub globals: Option<String>,
    /// `-e` error log path.
    pub error_log: Option<String>,
}

/// A `limit_req_zone`: the local zone, its key, and its Redis settings if shared.
pub type LimitZoneDef = (
    Arc<crate::limit::LimitZone>,
    Complex,
    Option<Arc<crate::limit::RedisLimit>>,
);

/// State shared while building the model.
pub struct Builder {
    pub prefix: PathBuf,
    /// The main configuration file's directory: relative certificate paths start here.
    pub conf_dir: PathBuf,
    pub names: Names,
    pub log_formats: HashMap<String, Arc<LogFormat>>,
    pub log_files: Vec<PathBuf>,
    /// Lua chunks numbered so far.
    pub lua_chunks: usize,
    /// `limit_req_zone`s by name: the zone and its key.
    pub limit_zones: HashMap<String, LimitZoneDef>,
    /// `limit_conn_zone`s by name: the zone and its key.
    pub conn_zones: HashMap<String, (Arc<crate::limit::ConnZone>, Complex)>,
    /// `upstream` blocks by name.
    pub upstreams: HashMap<String, UpstreamDef>,
    /// The groups made for literal `proxy_pass http://host:port`, by `host:port`.
    pub implicit_upstreams: HashMap<String, UpstreamDef>,
    /// `proxy_cache_path` zones by name.
    pub cache_zones: HashMap<String, Arc<crate::cache::Zone>>,
    /// `api_key_store` and `api_key_tier`s.
    pub keys: Option<Arc<KeysGlobal>>,
    /// `acme_issuer` blocks by name.
    pub acme_issuers: HashMap<String, Arc<crate::tls::acme::Issuer>>,
    /// Managed certificates (`acme_certificate`), one per server that has one.
    pub acme: Vec<Arc<crate::tls::acme::Managed>>,
    /// Issuers of servers with `acme_on_demand on`.
    pub acme_on_demand: Vec<Arc<crate::tls::acme::Issuer>>,
}

impl Builder {
    fn new(prefix: PathBuf) -> Self {
        let mut names = Names::default();
        let combined = Complex::compile(
            "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"",
            &mut names,
        )
        .expect("the combined format is valid");
        let mut log_formats = HashMap::new();
        log_formats.insert(
            "combined".to_string(),
            Arc::new(LogFormat {
                name: "combined".into(),
                escape: Escape::Default,
                value: combined,
            }),
        );
        Builder {
            conf_dir: prefix.join("conf"),
            prefix,
            names,
            log_formats,
            log_files: vec![],
            lua_chunks: 0,
            limit_zones: HashMap::new(),
            conn_zones: HashMap::new(),
            upstreams: HashMap::new(),
            implicit_upstreams: HashMap::new(),
            cache_zones: HashMap::new(),
            keys: None,
            acme_issuers: HashMap::new(),
            acme: vec![],
            acme_on_demand: vec![],
        }
    }

    /// Compiles a complex value, reporting errors at the directive.
    pub fn complex(&mut self, d: &Directive, s: &str) -> Result<Complex> {
        Complex::compile(s, &mut self.names).map_err(|e| d.err(e))
    }

    /// Named captures become variables.
    pub fn declare_captures(&mut self, re: &Regex) {
        for (n, _) in re.names.iter() {
            self.names.declared.insert(n.clone());
        }
    }

    /// Index of a log file, shared by every `access_log` naming the same path.
    pub fn log_file(&mut self, path: &Path) -> usize {
        match self.log_files.iter().position(|p| p == path) {
            Some(i) => i,
            None => {
                self.log_files.push(path.to_path_buf());
                self.log_files.len() - 1
            }
        }
    }

    pub fn access_log(&mut self, d: &Directive) -> Result<AccessLogSpec> {
        let a = &d.args;
        if a[0].contains('$') {
            return Err(d.err("variables in \"access_log\" paths are not supported by openclaw"));
        }
        let path = self.full_path(&a[0]);
        let format = match a.get(1) {
            Some(name) => self
                .log_formats
                .get(name)
                .cloned()
                .ok_or_else(|| d.err(format!("unknown log format \"{name}\"")))?,
            None => self.log_formats["combined"].clone(),
        };
        for p in a.iter().skip(2) {
            let known = ["buffer=", "flush=", "gzip", "if="];
            if !known.iter().any(|k| p.starts_with(k)) {
                return Err(d.err(format!("invalid parameter \"{p}\"")));
            }
        }
        let file = self.log_file(&path);
        Ok(AccessLogSpec { file, format })
    }

    /// A path relative to the configuration's directory (certificates, as in nginx).
    pub fn conf_path(&self, p: &str) -> PathBuf {
        if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            self.conf_dir.join(p)
        }
    }

    /// A path relative to the prefix, as nginx resolves log and pid paths.
    pub fn full_path(&self, p: &str) -> PathBuf {
        if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            self.prefix.join(p)
        }
    }
}

/// Reads and validates the configuration.
pub fn load(opts: &LoadOptions) -> Result<Config> {
    let conf_dir = opts
        .conf_file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut p = parser::Parser::new(conf_dir.clone());
    let mut dirs = vec![];
    if let Some(g) = &opts.globals {
        dirs = p.parse_cmdline(g)?;
    }
    let file_dirs = p.parse_file(&opts.conf_file, directives_main())?;
    // -g directives come first; a directive given twice is a duplicate, as in nginx.
    dirs.extend(file_dirs);
    let mut b = Builder::new(opts.prefix.clone());
    b.conf_dir = conf_dir.clone();
    let main = build_main(&mut b, &dirs, opts)?;
    let mut http = None;
    for d in &dirs {
        if d.name == "http" {
            if http.is_some() {
                return Err(d.err("\"http\" directive is duplicate"));
            }
            http = Some(http::build_http(&mut b, d)?);
        }
    }
    b.names.check().map_err(Error::config)?;
    Ok(Config {
        prefix: opts.prefix.clone(),
        conf_file: opts.conf_file.clone(),
        main,
        http,
        notices: p.notices,
    })
}

fn directives_main() -> directives::Ctx {
    directives::MAIN
}

fn build_main(b: &mut Builder, dirs: &[Directive], opts: &LoadOptions) -> Result<Main> {
    let mut m = Main {
        worker_processes: 1,
        daemon: true,
        master_process: true,
        pid: b.full_path("logs/nginx.pid"),
        error_log: LogTarget::File(
            b.full_path(opts.error_log.as_deref().unwrap_or("logs/error.log")),
        ),
        error_level: Level::Error,
        worker_connections: 512,
        env: vec![],
    };
    let mut seen = std::collections::HashSet::new();
    for d in dirs {
        let a = &d.args;
        let first = seen.insert(d.name.as_str());
        match d.name.as_str() {
            "events" => {
                if !first {
                    return Err(d.err("\"events\" directive is duplicate"));
                }
                for e in d.children() {
                    if e.name == "worker_connections" {
                        m.worker_connections = values::number(&e.args[0])
                            .filter(|n| *n > 0)
                            .ok_or_else(|| e.err(format!("invalid number \"{}\"", e.args[0])))?
                            as usize;
                    }
                }
            }
            "worker_processes" | "daemon" | "master_process" | "pid" if !first => {
                return Err(d.err(format!("\"{}\" directive is duplicate", d.name)));
            }
            "worker_processes" => {
                m.worker_processes = if a[0] == "auto" {
                    std::thread::available_parallelism()
                        .map(|n| n.get())
                        .unwrap_or(1)
                } else {
                    values::number(&a[0])
                        .filter(|n| *n > 0 && *n <= 1024)
                        .ok_or_else(|| d.err("\"worker_processes\" directive invalid value"))?
                        as usize
                };
            }
            "daemon" => m.daemon = a[0] == "on",
            "master_process" => m.master_process = a[0] == "on",
            "pid" => m.pid = b.full_path(&a[0]),
            "env" => m.env.push(a[0].clone()),
            "error_log" => {
                if first {
                    let target = match a[0].as_str() {
                        "stderr" => LogTarget::Stderr,
                        p => LogTarget::File(b.full_path(p)),
                    };
                    if opts.error_log.is_none() {
                        m.error_log = target;
                    }
                }
                if let Some(l) = a.get(1) {
                    m.error_level = Level::parse(l)
                        .ok_or_else(|| d.err(format!("invalid log level \"{l}\"")))?;
                }
            }
            _ => {}
        }
    }
    Ok(m)
}
