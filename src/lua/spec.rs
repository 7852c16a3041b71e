//! `openclaw test`: runs busted-style Lua specs inside the real runtime (the `ngx` API,
//! cjson, bundled modules), outside any request.

use std::path::{Path, PathBuf};

const RUNNER: &str = include_str!("../../lua/openclaw/test.lua");

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for e in entries {
            collect(&e, out);
        }
    } else if path.extension().is_some_and(|e| e == "lua") {
        out.push(path.to_path_buf());
    }
}

/// Runs the spec files under `paths`; returns the exit code (0 when all passed).
pub fn run_specs(paths: &[PathBuf], config: Option<&crate::config::Config>) -> i32 {
    let mut files = vec![];
    for p in paths {
        if !p.exists() {
            eprintln!("openclaw: spec path not found: {}", p.display());
            return 1;
        }
        collect(p, &mut files);
    }
    let configured = match config.map(super::vm::LuaEngine::tool_vm) {
        Some(Err(e)) => {
            eprintln!("openclaw: [emerg] {e}");
            return 1;
        }
        Some(Ok(vm)) => vm,
        None => None,
    };
    let bare = configured.is_none();
    let lua = configured.unwrap_or_default();
    let setup = || -> mlua::Result<(usize, usize)> {
        if bare {
            super::api::install(&lua)?;
            let ngx: mlua::Table = lua.globals().get("ngx")?;
            super::shared::install(&lua, &ngx, &[])?;
            super::bundled::install(&lua)?;
        }
        // Specs may define globals freely.
        lua.load("setmetatable(_G, nil)").exec()?;
        let runner: mlua::Table = lua.load(RUNNER).set_name("@openclaw/test.lua").eval()?;
        let run: mlua::Function = runner.get("run")?;
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        run.call::<(usize, usize)>(names)
    };
    match setup() {
        Ok((_, 0)) => 0,
        Ok(_) => 1,
        Err(e) => {
            eprintln!("openclaw: spec runner failed: {e}");
            1
        }
    }
}
