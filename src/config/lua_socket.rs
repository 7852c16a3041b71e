//! `lua_socket_*`: the defaults of cosockets created in a location (timeouts, the pool's
//! size and idle timeout), inherited like nginx's settings.

use super::parser::Directive;
use super::{values, LocConf};
use crate::error::Result;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct LuaSocketConf {
    pub connect_timeout: Duration,
    pub send_timeout: Duration,
    pub read_timeout: Duration,
    /// `setkeepalive()` without a timeout (0: kept until closed).
    pub keepalive_timeout: Duration,
    /// `setkeepalive()` without a size.
    pub pool_size: usize,
    /// `lua_socket_log_errors` (on): failures are also written to error.log.
    pub log_errors: bool,
}

impl Default for LuaSocketConf {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        LuaSocketConf {
            connect_timeout: minute,
            send_timeout: minute,
            read_timeout: minute,
            keepalive_timeout: minute,
            pool_size: 30,
            log_errors: true,
        }
    }
}

/// Applies one `lua_socket_*` directive.
pub fn apply(conf: &mut LocConf, d: &Directive) -> Result<()> {
    let a = &d.args[0];
    let time = || {
        values::time(a)
            .ok_or_else(|| d.err(format!("invalid value \"{a}\" in \"{}\" directive", d.name)))
    };
    let s = &mut conf.lua_socket;
    match d.name.as_str() {
        "lua_socket_connect_timeout" => s.connect_timeout = time()?,
        "lua_socket_send_timeout" => s.send_timeout = time()?,
        "lua_socket_read_timeout" => s.read_timeout = time()?,
        "lua_socket_keepalive_timeout" => s.keepalive_timeout = time()?,
        "lua_socket_log_errors" => s.log_errors = a == "on",
        "lua_socket_pool_size" => {
            s.pool_size = values::number(a).filter(|n| *n > 0).ok_or_else(|| {
                d.err(format!("invalid value \"{a}\" in \"{}\" directive", d.name))
            })? as usize
        }
        // Buffers are sized as data comes; accepted for compatibility.
        "lua_socket_buffer_size" => {
            values::size(a).ok_or_else(|| {
                d.err(format!("invalid value \"{a}\" in \"{}\" directive", d.name))
            })?;
        }
        _ => {}
    }
    Ok(())
}
