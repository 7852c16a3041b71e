//! The Lua modules shipped in `lua/` and compiled into the binary. They are found after the
//! user's `lua_package_path`, so a user's own copy of a module wins.

use mlua::{Lua, Table, Value};

/// (module name, source).
const MODULES: &[(&str, &str)] = &[
    ("resty.core", include_str!("../../lua/resty/core.lua")),
    (
        "resty.core.base",
        include_str!("../../lua/resty/core/base.lua"),
    ),
    ("ngx.re", include_str!("../../lua/ngx/re.lua")),
    ("ngx.base64", include_str!("../../lua/ngx/base64.lua")),
    ("ngx.process", include_str!("../../lua/ngx/process.lua")),
    ("ngx.resp", include_str!("../../lua/ngx/resp.lua")),
    ("ngx.req", include_str!("../../lua/ngx/req.lua")),
    (
        "resty.lrucache",
        include_str!("../../lua/resty/lrucache.lua"),
    ),
    (
        "resty.lrucache.pureffi",
        include_str!("../../lua/resty/lrucache.lua"),
    ),
    (
        "resty.limit.req",
        include_str!("../../lua/resty/limit/req.lua"),
    ),
    (
        "resty.limit.count",
        include_str!("../../lua/resty/limit/count.lua"),
    ),
    (
        "resty.limit.conn",
        include_str!("../../lua/resty/limit/conn.lua"),
    ),
    ("openclaw.repl", include_str!("../../lua/openclaw/repl.lua")),
    ("resty.lock", include_str!("../../lua/resty/lock.lua")),
    (
        "resty.limit.traffic",
        include_str!("../../lua/resty/limit/traffic.lua"),
    ),
];

const TABLE_EXT: &str = include_str!("../../lua/openclaw/table_ext.lua");

/// Appends a searcher for the bundled modules to `package.loaders` and loads the table
/// extensions.
pub fn install(lua: &Lua) -> mlua::Result<()> {
    lua.load(TABLE_EXT).set_name("=openclaw.table_ext").exec()?;
    let package: Table = lua.globals().get("package")?;
    let loaders: Table = package.get("loaders")?;
    let searcher =
        lua.create_function(
            |lua, name: String| match MODULES.iter().find(|(n, _)| *n == name) {
                Some((n, src)) => {
                    let f = lua.load(*src).set_name(format!("@{n}")).into_function()?;
                    Ok(Value::Function(f))
                }
                None => Ok(Value::String(
                    lua.create_string(format!("\n\tno bundled module '{name}'"))?,
                )),
            },
        )?;
    loaders.raw_push(searcher)?;
    Ok(())
}
