//! OpenClaw: a programmable HTTP gateway with nginx-syntax configuration.
//!
//! Dependencies point down: `error`, `observe` <- `config`, `vars`, `re` <- `router` <-
//! `pipeline` <- `server` <- `cli`.

pub mod cache;
pub mod clock;
pub mod compress;
pub mod config;
pub mod error;
pub mod http1;
pub mod keys;
pub mod observe;
pub mod re;
pub mod resolver;
pub mod vars;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The nginx version whose behaviour and CLI OpenClaw follows (tools parse `-V` for it).
pub const NGINX_COMPAT: &str = "1.25.5";
pub mod cli;
pub mod limit;
pub mod lua;
pub mod pipeline;
pub mod proxy;
pub mod router;
pub mod server;
pub mod shdict;
pub mod tls;
pub mod upstream;
