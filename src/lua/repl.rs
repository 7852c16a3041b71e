//! `openclaw repl`: a Lua prompt inside the real runtime (the `ngx` API, cjson, bundled
//! modules). Expressions print their values; errors print and the session goes on. Piped
//! input runs the same way with plain output, so the REPL is scriptable.

use std::io::{BufRead, IsTerminal, Write};

/// Renders values the way the prompt prints them (tables through cjson when possible).
const SHOW: &str = r##"
local cjson = require "cjson.safe"
return function(...)
    local n = select("#", ...)
    local out = {}
    for i = 1, n do
        local v = select(i, ...)
        if type(v) == "table" then
            out[i] = cjson.encode(v) or tostring(v)
        elseif type(v) == "string" then
            out[i] = string.format("%q", v)
        else
            out[i] = tostring(v)
        end
    end
    if n > 0 then io.write(table.concat(out, "\t"), "\n") end
end
"##;

/// Is `err` Lua's "the chunk is not finished yet" complaint?
fn incomplete(err: &mlua::Error) -> bool {
    matches!(
        err,
        mlua::Error::SyntaxError {
            incomplete_input: true,
            ..
        }
    )
}

pub fn run(config: Option<&crate::config::Config>) -> i32 {
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
    let setup = || -> mlua::Result<mlua::Function> {
        if bare {
            super::api::install(&lua)?;
            let ngx: mlua::Table = lua.globals().get("ngx")?;
            super::shared::install(&lua, &ngx, &[])?;
            super::bundled::install(&lua)?;
        }
        lua.load("setmetatable(_G, nil)").exec()?;
        // At the prompt, print writes to stdout.
        lua.load("print = function(...) local t = {} for i = 1, select('#', ...) do t[i] = tostring((select(i, ...))) end io.write(table.concat(t, '\\t'), '\\n') end").exec()?;
        lua.load(SHOW).set_name("=repl").eval()
    };
    let show = match setup() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("openclaw: cannot start the Lua runtime: {e}");
            return 1;
        }
    };
    let tty = std::io::stdin().is_terminal();
    if tty {
        println!(
            "openclaw {} Lua REPL (LuaJIT). Expressions print their values; :help, :quit.",
            crate::VERSION
        );
    }
    let stdin = std::io::stdin();
    let mut buf = String::new();
    let mut failed = false;
    loop {
        if tty {
            print!("{}", if buf.is_empty() { "> " } else { ">> " });
            let _ = std::io::stdout().flush();
        }
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let trimmed = line.trim();
        if buf.is_empty() {
            match trimmed {
                ":quit" | ":q" | ":exit" => break,
                ":help" => {
                    println!("Lua with the ngx API (no request: request APIs raise 'no request found').\n  <expr>       prints its value\n  <statement>  runs it\n  :quit        leaves");
                    continue;
                }
                "" => continue,
                _ => {}
            }
        }
        buf.push_str(&line);
        // An expression first (so `40 + 2` prints 42), then a statement.
        let as_expr = lua
            .load(format!("return {buf}"))
            .set_name("=stdin")
            .into_function();
        let func = match as_expr {
            Ok(f) => f,
            Err(_) => match lua.load(buf.as_str()).set_name("=stdin").into_function() {
                Ok(f) => f,
                Err(e) if incomplete(&e) => continue,
                Err(e) => {
                    eprintln!("{}", super::vm::lua_message(&e));
                    failed = true;
                    buf.clear();
                    continue;
                }
            },
        };
        buf.clear();
        match func.call::<mlua::MultiValue>(()) {
            Ok(vals) => {
                if let Err(e) = show.call::<()>(vals) {
                    eprintln!("{}", super::vm::lua_message(&e));
                }
            }
            Err(e) => {
                eprintln!("{}", e.to_string().trim_end());
                failed = true;
            }
        }
        let _ = std::io::stdout().flush();
    }
    if !buf.trim().is_empty() {
        eprintln!("stdin: unfinished chunk at end of input");
        failed = true;
    }
    // Piped sessions report errors through the exit code, like a script.
    if !tty && failed {
        1
    } else {
        0
    }
}
