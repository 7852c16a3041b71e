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
pub fn run_specs(paths: &[PathBuf], host: &dyn super::tools::Host) -> i32 {
    let mut files = vec![];
    for p in paths {
        if !p.exists() {
            eprintln!("openclaw: spec path not found: {}", p.display());
            return 1;
        }
        collect(p, &mut files);
    }
    let lua = match host
        .open()
        .and_then(|session| super::tools::session_vm(&session))
    {
        Ok(lua) => lua,
        Err(e) => {
            eprintln!("openclaw: [emerg] {e}");
            return 1;
        }
    };
    let run = || -> mlua::Result<(usize, usize)> {
        let runner: mlua::Table = lua.load(RUNNER).set_name("@openclaw/test.lua").eval()?;
        let run: mlua::Function = runner.get("run")?;
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        run.call::<(usize, usize)>(names)
    };
    match run() {
        Ok((_, 0)) => 0,
        Ok(_) => 1,
        Err(e) => {
            eprintln!("openclaw: spec runner failed: {e}");
            1
        }
    }
}
