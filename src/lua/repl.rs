//! `openclaw repl`: a Lua prompt inside the real runtime (the `ngx` API, cjson, bundled
//! modules; with a configuration, its `init_by_lua`, shared dicts, upstreams, caches and
//! key store). Expressions print their values; errors print with a traceback and the
//! session goes on. On a terminal: line editing, history, multi-line input, Tab completion.
//! Piped input runs the same way with plain output, so the REPL is scriptable.
//!
//! `:req` runs a request through the configuration's whole pipeline in process; `:phases`
//! shows what would run for a path; `:reload` re-reads the configuration; `:load` runs a
//! file.

use super::tools::{self, Host, Session, ToolRequest};
use mlua::{Function, Lua, MultiValue, Table};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Context, Editor};
use std::cell::RefCell;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::rc::Rc;

const HELP: &str = "\
Lua with the ngx and openclaw APIs.
  <expression>         prints its value (tables pretty-printed)
  <statement>          runs it; an unfinished chunk continues on the next line (>>)
  :req [METHOD] PATH [-H 'Name: value']... [-d BODY]
                       runs a request through the configuration, prints the response
                       and the error.log lines it produced
  :phases PATH [-H 'Host: name']
                       shows the server, location and handlers a request would meet
  :reload              re-reads the configuration (a fresh VM)
  :load FILE           runs a Lua file here
  :help                this text
  :quit                leaves (or Ctrl-D)
Request APIs (ngx.say, ngx.var, ...) need a request: use :req.
Keys: Up/Down history, Tab completes globals and fields (ngx.md<Tab>).";

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

/// The VM with its REPL helpers.
struct Vm {
    lua: Lua,
    requests: Option<Rc<dyn tools::Requests>>,
    pretty: Function,
    complete: Function,
}

impl Vm {
    fn open(host: &dyn Host) -> Result<Vm, String> {
        let Session { engine, requests } = host.open()?;
        let session = Session {
            engine,
            requests: requests.clone(),
        };
        let lua = tools::session_vm(&session)?;
        let setup = || -> mlua::Result<(Function, Function)> {
            // At the prompt, print writes to stdout, through the same buffer as the
            // values the prompt prints (so their order holds in a pipe).
            let tostring: Function = lua.globals().get("tostring")?;
            let print = lua.create_function(move |_, args: MultiValue| {
                let mut parts = vec![];
                for v in args {
                    parts.push(tostring.call::<String>(v)?);
                }
                println!("{}", parts.join("\t"));
                Ok(())
            })?;
            lua.globals().set("print", print)?;
            let m: Table = lua.load("return require 'openclaw.repl'").eval()?;
            Ok((m.get("pretty")?, m.get("complete")?))
        };
        let (pretty, complete) =
            setup().map_err(|e| format!("cannot start the Lua runtime: {e}"))?;
        Ok(Vm {
            lua,
            requests,
            pretty,
            complete,
        })
    }
}

/// Tab completion from the live VM.
struct Helper {
    vm: Rc<RefCell<Option<Rc<Vm>>>>,
}

impl Completer for Helper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':')))
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(0);
        let word = &before[start..];
        if word.starts_with(':') && start == 0 {
            let cmds = [":req", ":phases", ":reload", ":load", ":help", ":quit"];
            let pairs = cmds
                .iter()
                .filter(|c| c.starts_with(word))
                .map(|c| Pair {
                    display: c.to_string(),
                    replacement: c.to_string(),
                })
                .collect();
            return Ok((0, pairs));
        }
        let Some(vm) = self.vm.borrow().clone() else {
            return Ok((start, vec![]));
        };
        let names: Vec<String> = vm.complete.call(word).unwrap_or_default();
        let pairs = names
            .into_iter()
            .map(|n| Pair {
                display: n.rsplit(['.', ':']).next().unwrap_or(&n).to_string(),
                replacement: n,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl rustyline::hint::Hinter for Helper {
    type Hint = String;
}
impl rustyline::highlight::Highlighter for Helper {}
impl rustyline::validate::Validator for Helper {}
impl rustyline::Helper for Helper {}

/// Where lines come from: the line editor on a terminal, stdin otherwise.
enum Input {
    Tty(Box<Editor<Helper, DefaultHistory>>, Option<PathBuf>),
    Pipe(std::io::Stdin),
}

enum Line {
    Text(String),
    /// Ctrl-C: drop the unfinished chunk.
    Interrupted,
    Eof,
}

impl Input {
    fn read(&mut self, prompt: &str) -> Line {
        match self {
            Input::Tty(ed, _) => match ed.readline(prompt) {
                Ok(l) => Line::Text(l),
                Err(ReadlineError::Interrupted) => Line::Interrupted,
                Err(_) => Line::Eof,
            },
            Input::Pipe(stdin) => {
                let mut line = String::new();
                match stdin.lock().read_line(&mut line) {
                    Ok(0) | Err(_) => Line::Eof,
                    Ok(_) => Line::Text(line.trim_end_matches(['\n', '\r']).to_string()),
                }
            }
        }
    }

    /// Remembers a finished entry (saved at once, so a killed session keeps it).
    fn remember(&mut self, entry: &str) {
        if let Input::Tty(ed, path) = self {
            let _ = ed.add_history_entry(entry);
            if let Some(p) = path {
                let _ = ed.save_history(p);
            }
        }
    }
}

/// `$OPENCLAW_HISTORY`, else `~/.openclaw_history`.
fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OPENCLAW_HISTORY") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".openclaw_history"))
}

/// Runs the REPL; returns the exit code (piped sessions: 1 if any chunk failed).
pub fn run(host: &dyn Host) -> i32 {
    let vm = match Vm::open(host) {
        Ok(vm) => Rc::new(vm),
        Err(e) => {
            eprintln!("openclaw: {e}");
            return 1;
        }
    };
    tools::set_repl_hint(true);
    let shared = Rc::new(RefCell::new(Some(vm)));
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut input = if tty {
        match Editor::<Helper, DefaultHistory>::new() {
            Ok(mut ed) => {
                ed.set_helper(Some(Helper { vm: shared.clone() }));
                let path = history_path();
                if let Some(p) = &path {
                    let _ = ed.load_history(p);
                }
                Input::Tty(Box::new(ed), path)
            }
            Err(_) => Input::Pipe(std::io::stdin()),
        }
    } else {
        Input::Pipe(std::io::stdin())
    };
    if tty {
        println!(
            "openclaw {} Lua REPL (LuaJIT){}. :help for commands, :quit to leave.",
            crate::VERSION,
            host.describe()
                .map(|c| format!(" with {c}"))
                .unwrap_or_default()
        );
    }
    let mut buf = String::new();
    let mut failed = false;
    loop {
        let prompt = if buf.is_empty() { "> " } else { ">> " };
        let line = match input.read(prompt) {
            Line::Text(l) => l,
            Line::Interrupted => {
                buf.clear();
                continue;
            }
            Line::Eof => break,
        };
        if buf.is_empty() {
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            if let Some(cmd) = trimmed.strip_prefix(':') {
                input.remember(trimmed);
                match command(cmd, host, &shared) {
                    Flow::Quit => break,
                    Flow::Ok => {}
                    Flow::Failed => failed = true,
                }
                let _ = std::io::stdout().flush();
                continue;
            }
        } else {
            buf.push('\n');
        }
        buf.push_str(&line);
        let Some(vm) = shared.borrow().clone() else {
            break;
        };
        match eval(&vm, &buf) {
            Eval::Incomplete => continue,
            Eval::Done(ok) => failed |= !ok,
        }
        input.remember(&buf);
        buf.clear();
        let _ = std::io::stdout().flush();
    }
    if !buf.trim().is_empty() {
        eprintln!("stdin: unfinished chunk at end of input");
        failed = true;
    }
    tools::set_repl_hint(false);
    // Piped sessions report errors through the exit code, like a script.
    if !tty && failed {
        1
    } else {
        0
    }
}

enum Eval {
    Incomplete,
    Done(bool),
}

/// Compiles `src` as an expression (so `40 + 2` prints 42), else as a statement, runs it
/// and prints its values or its error with a traceback.
fn eval(vm: &Vm, src: &str) -> Eval {
    let func = match vm
        .lua
        // Not `return EXPR`: a tail call there would lose the error's position.
        .load(format!("return select(1, {src})"))
        .set_name("=stdin")
        .into_function()
    {
        Ok(f) => f,
        Err(_) => match vm.lua.load(src).set_name("=stdin").into_function() {
            Ok(f) => f,
            Err(e) if incomplete(&e) => return Eval::Incomplete,
            Err(e) => {
                eprintln!("{}", super::vm::lua_message(&e));
                return Eval::Done(false);
            }
        },
    };
    Eval::Done(show(vm, func.call::<MultiValue>(())))
}

/// An error as the prompt prints it: the message, then the traceback.
fn error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, traceback } => {
            format!("{}\n{}", error_text(cause), traceback.trim_end())
        }
        mlua::Error::RuntimeError(m) => m.trim_end().to_string(),
        e => e.to_string().trim_end().to_string(),
    }
}

/// Prints a chunk's results or its error; returns whether the chunk succeeded.
fn show(vm: &Vm, res: mlua::Result<MultiValue>) -> bool {
    let vals = match res {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{}", error_text(&e));
            return false;
        }
    };
    match vm.pretty.call::<Option<String>>(vals) {
        Ok(Some(text)) => println!("{text}"),
        Ok(None) => {}
        Err(e) => eprintln!("{}", super::vm::lua_message(&e)),
    }
    true
}

enum Flow {
    Ok,
    Failed,
    Quit,
}

fn command(cmd: &str, host: &dyn Host, shared: &Rc<RefCell<Option<Rc<Vm>>>>) -> Flow {
    let words = match split_words(cmd) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{e}");
            return Flow::Failed;
        }
    };
    let Some(vm) = shared.borrow().clone() else {
        return Flow::Quit;
    };
    let name = words.first().map(String::as_str).unwrap_or("");
    let args = &words[words.len().min(1)..];
    match name {
        "quit" | "q" | "exit" => Flow::Quit,
        "help" | "h" => {
            println!("{HELP}");
            Flow::Ok
        }
        "load" => {
            let [file] = args else {
                eprintln!("usage: :load FILE");
                return Flow::Failed;
            };
            match std::fs::read(file) {
                Ok(src) => {
                    let f = vm
                        .lua
                        .load(src.as_slice())
                        .set_name(format!("@{file}"))
                        .into_function();
                    match f {
                        Ok(f) => flow(show(&vm, f.call::<MultiValue>(()))),
                        Err(e) => {
                            eprintln!("{}", super::vm::lua_message(&e));
                            Flow::Failed
                        }
                    }
                }
                Err(e) => {
                    eprintln!("cannot read {file}: {e}");
                    Flow::Failed
                }
            }
        }
        "reload" => {
            if host.describe().is_none() {
                eprintln!("no configuration loaded: start with openclaw repl -c CONF");
                return Flow::Failed;
            }
            match Vm::open(host) {
                Ok(new) => {
                    *shared.borrow_mut() = Some(Rc::new(new));
                    println!("reloaded (a fresh VM: globals start over)");
                    Flow::Ok
                }
                Err(e) => {
                    eprintln!("reload failed, the old configuration stays: {e}");
                    Flow::Failed
                }
            }
        }
        "req" | "phases" => {
            let Some(requests) = &vm.requests else {
                eprintln!("no configuration loaded: start with openclaw repl -c CONF");
                return Flow::Failed;
            };
            let req = match parse_req(args, name == "phases") {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{e}");
                    return Flow::Failed;
                }
            };
            if name == "phases" {
                let host = req
                    .headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("host"))
                    .map(|(_, v)| v.as_str());
                return match requests.phases(host, &req.path) {
                    Ok(lines) => {
                        for l in lines {
                            println!("{l}");
                        }
                        Flow::Ok
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        Flow::Failed
                    }
                };
            }
            match requests.request(&req) {
                Ok(x) => {
                    println!("{}", x.status_line);
                    for (k, v) in &x.headers {
                        println!("{k}: {v}");
                    }
                    println!();
                    print_body(&x.body);
                    if !x.log.is_empty() {
                        println!("-- error.log --");
                        for l in &x.log {
                            println!("{l}");
                        }
                    }
                    Flow::Ok
                }
                Err(e) => {
                    eprintln!("request failed: {e}");
                    Flow::Failed
                }
            }
        }
        _ => {
            eprintln!("unknown command :{name} (:help lists them)");
            Flow::Failed
        }
    }
}

fn flow(ok: bool) -> Flow {
    if ok {
        Flow::Ok
    } else {
        Flow::Failed
    }
}

fn print_body(body: &[u8]) {
    if body.is_empty() {
        return;
    }
    match std::str::from_utf8(body) {
        Ok(text) if !text.contains('\0') => {
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
        }
        _ => println!("[{} bytes of binary body]", body.len()),
    }
}

/// `[METHOD] PATH [-H 'Name: value']... [-d BODY]`.
fn parse_req(args: &[String], path_only: bool) -> Result<ToolRequest, String> {
    let usage = if path_only {
        "usage: :phases PATH [-H 'Host: name']"
    } else {
        "usage: :req [METHOD] PATH [-H 'Name: value']... [-d BODY]"
    };
    let mut req = ToolRequest::default();
    let mut plain = vec![];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-H" => {
                let h = it.next().ok_or(usage)?;
                let (k, v) = h
                    .split_once(':')
                    .ok_or_else(|| format!("bad header \"{h}\": expected 'Name: value'"))?;
                req.headers
                    .push((k.trim().to_string(), v.trim().to_string()));
            }
            "-d" if !path_only => {
                req.body = it.next().ok_or(usage)?.as_bytes().to_vec();
            }
            _ => plain.push(a.clone()),
        }
    }
    match plain.as_slice() {
        [path] => {
            req.method = if req.body.is_empty() { "GET" } else { "POST" }.into();
            req.path = path.clone();
        }
        [method, path] if !path_only => {
            req.method = method.to_ascii_uppercase();
            req.path = path.clone();
        }
        _ => return Err(usage.into()),
    }
    if !req.path.starts_with('/') {
        return Err(format!("the path must start with '/': {}", req.path));
    }
    Ok(req)
}

/// Splits a command line into words: whitespace separates, single and double quotes group,
/// backslash escapes inside double quotes and outside quotes.
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut has = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                has = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated ' in the command".into()),
                    }
                }
            }
            '"' => {
                has = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => cur.extend(chars.next()),
                        Some(c) => cur.push(c),
                        None => return Err("unterminated \" in the command".into()),
                    }
                }
            }
            '\\' => {
                has = true;
                cur.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                has = true;
                cur.push(c);
            }
        }
    }
    if has {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_words() {
        assert_eq!(
            split_words(r#"req POST /a -H 'X-A: b c' -d "x \"y\"""#).unwrap(),
            ["req", "POST", "/a", "-H", "X-A: b c", "-d", "x \"y\""]
        );
        assert!(split_words("req 'open").is_err());
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn parses_requests() {
        let w = |s: &str| split_words(s).unwrap();
        let r = parse_req(&w("/x -H 'Host: a.test' -d hi"), false).unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/x"));
        assert_eq!(r.headers, [("Host".to_string(), "a.test".to_string())]);
        assert_eq!(r.body, b"hi");
        let r = parse_req(&w("delete /y"), false).unwrap();
        assert_eq!(r.method, "DELETE");
        assert!(parse_req(&w("GET /a /b"), false).is_err());
        assert!(parse_req(&w("GET /a"), true).is_err());
        assert!(parse_req(&w("x"), false).is_err());
        assert!(parse_req(&w("/a -H nocolon"), false).is_err());
    }
}
