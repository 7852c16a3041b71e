//! The request pipeline: phases, the per-request context, and the built-in handlers
//! (rewrite module, access rules, try_files, static files, error pages, header filter).

mod client_io;
mod compress;
mod ctx;
mod echo;
mod handler;
mod headers;
mod keys;
mod more_headers;
mod part;
mod response;
mod statics;
mod subrequest;
mod tasks;
mod upstream;
mod uri;

pub use client_io::{BodyStream, OnUpgrade, ReqBody, Takeover, Upgraded};
pub use ctx::{AbortMode, ConnInfo, LogContext, RequestCtx, TlsInfo};
use handler::BODY_MEMORY_CAP;
pub use handler::{collect_body, process, process_internal, special_400, special_status};
pub use headers::{HeaderList, HeaderSet, ListKey};
pub use part::Part;
pub use response::{
    header_filter, reason, server_string, special_page, special_response, Body, CompressMemo,
    Response,
};
pub use subrequest::subrequest;
pub use tasks::{allow_background, background_done, can_spawn_background, spawn_background};
pub use upstream::{Attempt, BalancerState, UpstreamLog};
pub use uri::{is_plain_path, normalize_path};

use crate::config::Config;
use crate::observe::LogFile;
use std::sync::Arc;

/// The request phases, in order. Handlers declare where they are legal with a [`PhaseSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Phase {
    Init = 1,
    InitWorker = 1 << 1,
    Set = 1 << 2,
    Rewrite = 1 << 3,
    Access = 1 << 4,
    Content = 1 << 5,
    Balancer = 1 << 6,
    HeaderFilter = 1 << 7,
    BodyFilter = 1 << 8,
    Log = 1 << 9,
    Timer = 1 << 10,
    ExitWorker = 1 << 11,
    /// `ssl_certificate_by_lua*`: during a TLS handshake, before any request.
    SslCert = 1 << 12,
}

/// A set of phases as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseSet(pub u16);

impl PhaseSet {
    pub const fn of(phases: &[Phase]) -> PhaseSet {
        let mut bits = 0;
        let mut i = 0;
        while i < phases.len() {
            bits |= phases[i] as u16;
            i += 1;
        }
        PhaseSet(bits)
    }

    pub fn contains(self, p: Phase) -> bool {
        self.0 & p as u16 != 0
    }
}

impl Phase {
    /// The name OpenResty's `ngx.get_phase()` returns.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Init => "init",
            Phase::InitWorker => "init_worker",
            Phase::Set => "set",
            Phase::Rewrite => "rewrite",
            Phase::Access => "access",
            Phase::Content => "content",
            Phase::Balancer => "balancer",
            Phase::HeaderFilter => "header_filter",
            Phase::BodyFilter => "body_filter",
            Phase::Log => "log",
            Phase::Timer => "timer",
            Phase::ExitWorker => "exit_worker",
            Phase::SslCert => "ssl_cert",
        }
    }
}

/// What a script handler decided for its phase.
pub enum ScriptOutcome {
    /// Go on with the next phase (`ngx.exit(ngx.OK)` or falling off the end in rewrite or
    /// access).
    Next,
    /// Finish the request with this response.
    Respond(Response),
    /// `ngx.exec`: redirect internally to this URI (`?args` allowed) or `@named` location.
    Exec(String),
}

/// A boxed, non-`Send` future: script engines run on their worker's thread.
pub type LocalFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>>;

/// Runs script handlers (`*_by_lua*`). The pipeline calls it without knowing the language.
pub trait ScriptEngine: Send + Sync {
    fn run<'a>(
        &'a self,
        phase: Phase,
        chunk: &'a Arc<crate::config::LuaChunk>,
        ctx: &'a mut RequestCtx,
    ) -> LocalFuture<'a, ScriptOutcome>;

    /// Runs a handler of a phase that cannot yield (header_filter, log). For
    /// header_filter, `resp` is the response whose status and headers it may change.
    fn run_sync(
        &self,
        phase: Phase,
        chunk: &Arc<crate::config::LuaChunk>,
        ctx: &mut RequestCtx,
        resp: Option<&mut Response>,
    );

    /// Runs a `set_by_lua*` handler with `args` as `ngx.arg`; its return value as text, or
    /// None when it failed (already logged).
    fn run_set(
        &self,
        chunk: &Arc<crate::config::LuaChunk>,
        ctx: &mut RequestCtx,
        args: Vec<String>,
    ) -> Option<String>;

    /// Runs a `body_filter_by_lua*` handler over the whole response body (OpenClaw buffers
    /// bodies, so there is one call with `ngx.arg[2]` true); returns the new body.
    fn run_body_filter(
        &self,
        chunk: &Arc<crate::config::LuaChunk>,
        ctx: &mut RequestCtx,
        body: bytes::Bytes,
    ) -> bytes::Bytes;

    /// Runs a `balancer_by_lua*` handler for one proxy try; false when it failed (logged).
    fn run_balancer(
        &self,
        chunk: &Arc<crate::config::LuaChunk>,
        ctx: &mut RequestCtx,
        state: &mut BalancerState,
    ) -> bool;
    /// Runs an `ssl_certificate_by_lua*` handler in the middle of a TLS handshake: it reads
    /// the handshake's facts from `req` and records there the certificate it sets. False
    /// when the handshake must fail (the handler raised an error, which is logged, or
    /// ended with `ngx.exit(ngx.ERROR)`).
    fn run_ssl_cert<'a>(
        &'a self,
        chunk: &'a Arc<crate::config::LuaChunk>,
        req: &'a mut crate::tls::CertRequest,
    ) -> LocalFuture<'a, bool> {
        let _ = (chunk, req);
        Box::pin(std::future::ready(false))
    }

    /// Prepares this thread's state for the generation (Lua: builds the VM and runs
    /// `init_worker_by_lua*`). Workers call it when a generation starts serving.
    fn warm(&self) {}

    /// The worker is stopping (Lua: `exit_worker_by_lua*` in this thread's VM).
    fn exit_worker(&self) {}
}

/// One configuration generation: what a request runs against from start to end. Reload
/// makes a new one; in-flight requests keep theirs.
pub struct Generation {
    pub id: u64,
    pub config: Arc<Config>,
    /// Open access log files, indexed like `Http::log_files`.
    pub log_files: Vec<Arc<LogFile>>,
    /// The script engine, when the configuration has script handlers.
    pub engine: Option<Arc<dyn ScriptEngine>>,
    /// TLS server configs, indexed like `Http::sockets` (None for plain sockets).
    pub tls: Vec<Option<Arc<rustls::ServerConfig>>>,
}

impl Generation {
    /// Opens what the configuration needs (access logs).
    pub fn new(
        id: u64,
        config: Arc<Config>,
        engine: Option<Arc<dyn ScriptEngine>>,
    ) -> crate::error::Result<Generation> {
        let mut log_files = vec![];
        if let Some(http) = &config.http {
            for p in &http.log_files {
                let f = LogFile::get(p).map_err(|e| {
                    crate::error::Error::io(format!("open() \"{}\" failed", p.display()), &e)
                })?;
                log_files.push(f);
            }
        }
        Ok(Generation {
            id,
            config,
            log_files,
            engine,
            tls: vec![],
        })
    }
}
