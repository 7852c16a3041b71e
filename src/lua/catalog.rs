//! What the runtime offers to Lua code, for `openclaw migrate`: a VM built exactly like a
//! worker's ([`super::vm::install_api`], without a configuration and without running any
//! user code), asked which `ngx.*` / `openclaw.*` names and which modules exist.

use mlua::{Lua, Table, Value};
use std::collections::HashSet;

/// Tables whose keys are the user's data rather than API names (`ngx.shared.DICT` is named
/// by `lua_shared_dict`); tables with `__index`/`__newindex` metamethods below the root
/// (`ngx.var`, `ngx.header`, `ngx.arg`) are treated the same way.
const OPEN: &[&str] = &["ngx.shared"];

/// How a name resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiStatus {
    /// Present in the runtime.
    Supported,
    /// An OpenResty API installed as a stub raising `API not supported by openclaw: NAME`.
    Stub,
    /// Not there at all (`nil` in the runtime).
    Missing,
}

/// The result of [`ApiCatalog::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The API's name: the path up to where it stops naming API (`ngx.shared` for
    /// `ngx.shared.cache:get`, `ngx.say` for `ngx.say`, `ngx.foo` for `ngx.foo.bar`).
    pub name: String,
    pub status: ApiStatus,
    /// The name is a plain API table (`ngx.re`), not a function, constant or data table.
    pub namespace: bool,
}

/// Where a module comes from when no `lua_package_path` file provides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    /// Native or preloaded (`cjson`, `ngx.semaphore`, `ngx.balancer`, Lua's own libraries).
    BuiltIn,
    /// One of the Lua modules compiled into the binary (`resty.lrucache`, `ngx.re`, ...).
    Bundled,
}

/// The runtime's Lua surface, queried by name.
pub struct ApiCatalog {
    lua: Lua,
    stubs: HashSet<String>,
}

impl ApiCatalog {
    /// Builds the VM. Its package paths are empty, so only built-in and bundled modules
    /// load: files on the user's path are the caller's to find.
    pub fn new() -> Result<ApiCatalog, String> {
        let lua = super::vm::new_lua();
        let setup = || -> mlua::Result<HashSet<String>> {
            let package: Table = lua.globals().get("package")?;
            package.set("path", "")?;
            package.set("cpath", "")?;
            super::vm::install_api(&lua, &[], &[], &[], None)?;
            let stubs: Table = lua.named_registry_value(super::api::UNSUPPORTED_APIS)?;
            let mut names = HashSet::new();
            for pair in stubs.pairs::<String, Value>() {
                names.insert(pair?.0);
            }
            Ok(names)
        };
        let stubs = setup().map_err(|e| format!("cannot start the Lua runtime: {e}"))?;
        Ok(ApiCatalog { lua, stubs })
    }

    /// Resolves `root.path[0].path[1]...` (`root` a global such as `ngx` or `openclaw`),
    /// stopping at the first value that is not an API table.
    pub fn resolve(&self, root: &str, path: &[String]) -> Resolved {
        let mut name = root.to_string();
        let mut cur = match self.lua.globals().raw_get::<Value>(root) {
            Ok(Value::Table(t)) => t,
            Ok(Value::Nil) | Err(_) => {
                return Resolved {
                    name,
                    status: ApiStatus::Missing,
                    namespace: false,
                }
            }
            Ok(_) => {
                return Resolved {
                    name,
                    status: ApiStatus::Supported,
                    namespace: false,
                }
            }
        };
        let done = |name: String, status| Resolved {
            name,
            status,
            namespace: false,
        };
        for (i, key) in path.iter().enumerate() {
            if OPEN.contains(&name.as_str()) || (i > 0 && has_accessors(&cur)) {
                return done(name, ApiStatus::Supported);
            }
            name.push('.');
            name.push_str(key);
            let mut next = cur.raw_get::<Value>(key.as_str()).unwrap_or(Value::Nil);
            if next.is_nil() && cur.metatable().is_some() {
                // Fields computed per request (ngx.status, ngx.ctx) raise "no request
                // found" here: they exist.
                match cur.get::<Value>(key.as_str()) {
                    Ok(v) => next = v,
                    Err(_) => return done(name, ApiStatus::Supported),
                }
            }
            if self.stubs.contains(&name) {
                return done(name, ApiStatus::Stub);
            }
            match next {
                Value::Nil => return done(name, ApiStatus::Missing),
                Value::Table(t) => cur = t,
                _ => return done(name, ApiStatus::Supported),
            }
        }
        let namespace = !OPEN.contains(&name.as_str()) && !has_accessors(&cur);
        Resolved {
            name,
            status: ApiStatus::Supported,
            namespace,
        }
    }

    /// Whether `require(name)` succeeds with no package path: a built-in or bundled module.
    pub fn module(&self, name: &str) -> Option<ModuleKind> {
        let find = || -> mlua::Result<Option<ModuleKind>> {
            let package: Table = self.lua.globals().get("package")?;
            for list in ["loaded", "preload"] {
                let t: Table = package.get(list)?;
                if !t.raw_get::<Value>(name)?.is_nil() {
                    return Ok(Some(ModuleKind::BuiltIn));
                }
            }
            let require: mlua::Function = self.lua.globals().get("require")?;
            Ok(require
                .call::<Value>(name)
                .ok()
                .map(|_| ModuleKind::Bundled))
        };
        find().ok().flatten()
    }

    /// LuaJIT's verdict on `src`, compiled and not run: `(line, message)` of a syntax error.
    pub fn syntax_error(&self, src: &[u8]) -> Option<(usize, String)> {
        let err = self.lua.load(src).set_name("=x").into_function().err()?;
        let msg = match &err {
            mlua::Error::SyntaxError { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let parsed = msg.strip_prefix("x:").and_then(|rest| {
            let (line, text) = rest.split_once(": ")?;
            Some((line.parse().ok()?, text.to_string()))
        });
        Some(parsed.unwrap_or((1, msg)))
    }
}

/// A table whose fields are read or written through metamethods (`ngx.var`, `ngx.header`).
fn has_accessors(t: &Table) -> bool {
    t.metatable().is_some_and(|mt| {
        ["__index", "__newindex"]
            .iter()
            .any(|k| !matches!(mt.raw_get::<Value>(*k), Ok(Value::Nil) | Err(_)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn resolves_the_real_ngx_table() {
        let c = ApiCatalog::new().unwrap();
        let r = c.resolve("ngx", &path(&["re", "match"]));
        assert_eq!(
            (r.name.as_str(), r.status),
            ("ngx.re.match", ApiStatus::Supported)
        );
        let r = c.resolve("ngx", &path(&["re"]));
        assert!(r.namespace);
        let r = c.resolve("ngx", &path(&["socket", "stream"]));
        assert_eq!(
            (r.name.as_str(), r.status),
            ("ngx.socket.stream", ApiStatus::Stub)
        );
        let r = c.resolve("ngx", &path(&["on_abort"]));
        assert_eq!(
            (r.name.as_str(), r.status),
            ("ngx.on_abort", ApiStatus::Supported)
        );
        let r = c.resolve("ngx", &path(&["foo", "bar"]));
        assert_eq!((r.name.as_str(), r.status), ("ngx.foo", ApiStatus::Missing));
        let r = c.resolve("ngx", &path(&["shared", "cache", "get"]));
        assert_eq!(
            (r.name.as_str(), r.status),
            ("ngx.shared", ApiStatus::Supported)
        );
        let r = c.resolve("ngx", &path(&["var", "uri"]));
        assert_eq!(
            (r.name.as_str(), r.status),
            ("ngx.var", ApiStatus::Supported)
        );
        let r = c.resolve("ngx", &path(&["status"]));
        assert_eq!(
            (r.name.as_str(), r.status),
            ("ngx.status", ApiStatus::Supported)
        );
        let r = c.resolve("ngx", &path(&["HTTP_OK"]));
        assert_eq!(r.status, ApiStatus::Supported);
        assert_eq!(c.module("cjson.safe"), Some(ModuleKind::BuiltIn));
        assert_eq!(c.module("resty.lrucache"), Some(ModuleKind::Bundled));
        assert_eq!(c.module("resty.nope"), None);
        assert_eq!(
            c.syntax_error(b"local x = 1\nlocal = 2").map(|e| e.0),
            Some(2)
        );
        assert!(c.syntax_error(b"return 1").is_none());
    }
}
