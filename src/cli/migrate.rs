//! `openclaw migrate [-p PREFIX] [-c CONF] [-q]`: reads an nginx/OpenResty configuration
//! (following `include`s) and every Lua chunk and file it references (`*_by_lua_block`
//! bodies, `*_by_lua_file` files, `*_by_lua` strings, and the modules they `require` that
//! are found on `lua_package_path`), and reports, one line each with `file:line`:
//!
//! - every directive: `supported`, `ignored` (accepted with a notice, no effect) or
//!   `unsupported` (unknown to OpenClaw, or rejected by the real configuration loader);
//! - every `ngx.*` / `openclaw.*` API used (through aliases too, see [`super::lua_scan`]):
//!   `supported` if the runtime has it, `unsupported` if it is a stub raising
//!   `API not supported by openclaw` or absent;
//! - every `require`d module: `supported` if built in, bundled or found on the package path,
//!   else `unsupported`;
//! - `error` for Lua that does not compile or a Lua file that cannot be read.
//!
//! What exists is asked of the real runtime ([`crate::lua::ApiCatalog`]), never of a list
//! kept here. No user Lua code runs. The configuration goes through the same loader as `-t`
//! (which, like nginx, creates `proxy_cache_path` directories).
//!
//! Exit status: 0 when everything is supported or ignored, 1 otherwise, 2 when the
//! configuration cannot be read at all (or on a usage error).

use super::lua_scan::{self, Use};
use crate::config::directives::{self, Ctx, DATA, LIF, LOCATION, SIF};
use crate::config::lexer::{End, Lexer};
use crate::lua::{ApiCatalog, ApiStatus, ModuleKind};
use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

pub const USAGE: &str = "Usage: openclaw migrate [-q] [-p prefix] [-c filename]

Reports every directive, ngx.*/openclaw.* API and required module of an nginx/OpenResty
configuration and its Lua code as supported, ignored or unsupported by openclaw.

Options:
  -p prefix     : set prefix path (default: the current directory)
  -c filename   : set configuration file (default: conf/openclaw.conf, else conf/nginx.conf)
  -q            : print only what is not supported (ignored, unsupported, errors)
";

/// The context of blocks whose contents are not reported (unknown or ignored blocks).
const SKIP: Ctx = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Supported,
    Ignored,
    Unsupported,
    Error,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::Ignored => "ignored",
            Verdict::Unsupported => "unsupported",
            Verdict::Error => "error",
        }
    }
}

#[derive(Debug, Clone)]
struct Finding {
    file: PathBuf,
    /// 0 when the position is unknown.
    line: usize,
    verdict: Verdict,
    /// `directive "name"`, `API ngx.re.match`, `module resty.foo`, or an error message.
    what: String,
    detail: Option<String>,
}

/// Lua code to scan, with where its first line sits.
struct LuaSource {
    file: PathBuf,
    first_line: usize,
    code: Vec<u8>,
}

/// The configuration walk: every statement, leniently (unknown directives do not stop it).
struct Walk {
    conf_dir: PathBuf,
    prefix: PathBuf,
    findings: Vec<Finding>,
    sources: Vec<LuaSource>,
    /// `*_by_lua_file` paths and the directive naming them.
    lua_files: Vec<(PathBuf, PathBuf, usize)>,
    package_path: Option<String>,
    package_cpath: Option<String>,
    depth: usize,
}

/// Entry point: `argv` are the arguments after `migrate`; returns the exit code.
pub fn main(argv: &[String]) -> i32 {
    let mut flags = vec![];
    let mut quiet = false;
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-p" | "-c" => {
                flags.push(a.clone());
                match it.next() {
                    Some(v) => flags.push(v.clone()),
                    None => return usage_error(&format!("option \"{a}\" requires a value")),
                }
            }
            "-q" | "--quiet" => quiet = true,
            "-h" | "-?" | "--help" => {
                eprint!("{USAGE}");
                return 0;
            }
            _ if a.len() > 2 && (a.starts_with("-p") || a.starts_with("-c")) => {
                flags.push(a.clone())
            }
            _ => return usage_error(&format!("invalid option: \"{a}\"")),
        }
    }
    let args = match super::Args::parse(&flags) {
        Ok(a) => a,
        Err(msg) => return usage_error(&msg),
    };
    let text = match std::fs::read(&args.conf) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "openclaw: [emerg] open() \"{}\" failed ({}: {})",
                args.conf.display(),
                e.raw_os_error().unwrap_or(0),
                crate::error::strerror(&e)
            );
            return 2;
        }
    };
    let catalog = match ApiCatalog::new() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("openclaw: {e}");
            return 2;
        }
    };
    let report = analyse(&args.prefix, &args.conf, &text, &catalog);
    print!("{}", render(&report, &args.prefix, quiet));
    if report
        .findings
        .iter()
        .any(|f| matches!(f.verdict, Verdict::Unsupported | Verdict::Error))
    {
        1
    } else {
        0
    }
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("openclaw: {msg}");
    eprintln!();
    eprint!("{USAGE}");
    2
}

struct Report {
    findings: Vec<Finding>,
    notes: Vec<String>,
}

/// Everything but the printing: walk, scan Lua, run the real loader.
fn analyse(prefix: &Path, conf: &Path, text: &[u8], catalog: &ApiCatalog) -> Report {
    let mut w = Walk {
        conf_dir: conf.parent().map(Path::to_path_buf).unwrap_or_default(),
        prefix: prefix.to_path_buf(),
        findings: vec![],
        sources: vec![],
        lua_files: vec![],
        package_path: None,
        package_cpath: None,
        depth: 0,
    };
    w.walk_text(conf, text, directives::MAIN);
    let mut notes = vec![];
    w.scan_lua(catalog);
    // The real loader: argument forms and combinations OpenClaw rejects.
    let opts = crate::config::LoadOptions {
        prefix: prefix.to_path_buf(),
        conf_file: conf.to_path_buf(),
        globals: None,
        error_log: None,
    };
    if let Err(e) = crate::config::load(&opts) {
        let (msg, file, line) = split_location(&e.context);
        if !msg.starts_with("unknown directive ") {
            let conf_name = conf.display().to_string();
            w.loader_error(msg, file.unwrap_or(&conf_name), line);
        }
        notes.push(
            "the configuration loader (as `openclaw -t`) stops at its first error; \
             fix it and run migrate again to check what follows"
                .to_string(),
        );
    }
    Report {
        findings: w.findings,
        notes,
    }
}

/// `msg in FILE:LINE` -> (msg, FILE, LINE).
fn split_location(s: &str) -> (&str, Option<&str>, usize) {
    if let Some((msg, loc)) = s.rsplit_once(" in ") {
        if let Some((file, line)) = loc.rsplit_once(':') {
            if let Ok(n) = line.parse() {
                return (msg, Some(file), n);
            }
        }
    }
    (s, None, 0)
}

impl Walk {
    fn add(&mut self, file: &Path, line: usize, verdict: Verdict, what: String) -> usize {
        self.findings.push(Finding {
            file: file.to_path_buf(),
            line,
            verdict,
            what,
            detail: None,
        });
        self.findings.len() - 1
    }

    fn add_detail(&mut self, file: &Path, line: usize, v: Verdict, what: String, d: &str) {
        let i = self.add(file, line, v, what);
        self.findings[i].detail = Some(d.to_string());
    }

    /// A lexer error (`msg in file:line`): recorded once.
    fn syntax_error(&mut self, full: &str) {
        let (msg, file, line) = split_location(full);
        let file = PathBuf::from(file.unwrap_or_default());
        let dup = self
            .findings
            .iter()
            .any(|f| f.file == file && f.line == line && f.what == msg);
        if !dup {
            self.add(&file, line, Verdict::Error, msg.to_string());
        }
    }

    /// The loader's complaint: it marks the directive at that line, or stands alone.
    fn loader_error(&mut self, msg: &str, file: &str, line: usize) {
        let file = PathBuf::from(file);
        if self
            .findings
            .iter()
            .any(|f| f.file == file && f.line == line && f.what == msg)
        {
            return;
        }
        // Several directives can end on that line (`upstream u { server ...; }`): the one
        // the message names, else the innermost (last walked).
        let candidates: Vec<usize> = (0..self.findings.len())
            .filter(|&i| {
                let f = &self.findings[i];
                f.file == file
                    && f.line == line
                    && f.verdict == Verdict::Supported
                    && f.what.starts_with("directive ")
            })
            .collect();
        let named = candidates.iter().copied().find(|&i| {
            let quoted = self.findings[i].what.trim_start_matches("directive ");
            msg.contains(quoted)
        });
        match named
            .or(candidates.last().copied())
            .and_then(|i| self.findings.get_mut(i))
        {
            Some(f) => {
                f.verdict = Verdict::Unsupported;
                f.detail = Some(msg.to_string());
            }
            None => {
                self.add(&file, line, Verdict::Unsupported, msg.to_string());
            }
        }
    }

    fn walk_text(&mut self, path: &Path, text: &[u8], ctx: Ctx) {
        let mut lx = Lexer::new(text, path.display().to_string());
        if let Err(msg) = self.walk_block(&mut lx, ctx, true) {
            self.syntax_error(&msg);
        }
    }

    /// Reads statements up to the end of the block (or file), reporting each directive in
    /// `ctx` (nothing inside [`SKIP`] blocks).
    fn walk_block(&mut self, lx: &mut Lexer, ctx: Ctx, top: bool) -> Result<(), String> {
        let file = PathBuf::from(&lx.origin);
        let mut words = vec![];
        loop {
            let end = lx.next_stmt(&mut words).map_err(|e| e.context)?;
            match end {
                End::Eof if top => return Ok(()),
                End::Eof => return Err(lx.err("unexpected end of file, expecting \"}\"").context),
                End::BlockDone if top => return Err(lx.err("unexpected \"}\"").context),
                End::BlockDone => return Ok(()),
                End::Semicolon | End::BlockStart => {}
            }
            let line = lx.line;
            let name = words[0].clone();
            let args = words[1..].to_vec();
            let lua_block = name.ends_with("_by_lua_block") && end == End::BlockStart;
            if ctx == SKIP || ctx == DATA {
                if lua_block {
                    lx.read_lua_block().map_err(|e| e.context)?;
                } else if end == End::BlockStart {
                    self.walk_block(lx, SKIP, false)?;
                }
                continue;
            }
            let known = directives::lookup_in(&name, ctx);
            let what = format!("directive \"{name}\"");
            if known.is_some() {
                self.add(&file, line, Verdict::Supported, what);
            } else if directives::ignored(&name).is_some() {
                self.add_detail(&file, line, Verdict::Ignored, what, "accepted, no effect");
            } else {
                self.add_detail(
                    &file,
                    line,
                    Verdict::Unsupported,
                    what,
                    "unknown to openclaw",
                );
            }
            if lua_block {
                let first_line = lx.line;
                let code = lx.read_lua_block().map_err(|e| e.context)?;
                self.sources.push(LuaSource {
                    file: file.clone(),
                    first_line,
                    code: code.into_bytes(),
                });
                continue;
            }
            self.lua_refs(&file, line, &name, &args, ctx);
            if end == End::Semicolon {
                continue;
            }
            let inner = match known {
                Some(s) if s.block && name == "if" => {
                    if ctx & (LOCATION | LIF) != 0 {
                        LIF
                    } else {
                        SIF
                    }
                }
                Some(s) if s.block => s.inner,
                _ => SKIP,
            };
            self.walk_block(lx, inner, false)?;
        }
    }

    /// `include`, `*_by_lua_file`, `*_by_lua "code"`, `lua_package_path`.
    fn lua_refs(&mut self, file: &Path, line: usize, name: &str, args: &[String], ctx: Ctx) {
        let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
        let set = name.starts_with("set_by_lua");
        if name == "include" && args.len() == 1 {
            self.include(file, line, &args[0], ctx);
        } else if name == "lua_package_path" {
            self.package_path.get_or_insert(arg(0));
        } else if name == "lua_package_cpath" {
            self.package_cpath.get_or_insert(arg(0));
        } else if name.ends_with("_by_lua_file") {
            let p = arg(usize::from(set));
            if p.is_empty() || p.contains('$') {
                return; // Known only per request.
            }
            let full = if Path::new(&p).is_absolute() {
                PathBuf::from(p)
            } else {
                self.prefix.join(p)
            };
            self.lua_files.push((full, file.to_path_buf(), line));
        } else if name.ends_with("_by_lua") {
            let code = arg(usize::from(set));
            // The directive's line is where it ends; the string starts that many lines up.
            let newlines = code.bytes().filter(|&b| b == b'\n').count();
            self.sources.push(LuaSource {
                file: file.to_path_buf(),
                first_line: line.saturating_sub(newlines).max(1),
                code: code.into_bytes(),
            });
        }
    }

    /// Follows `include` as the parser does: relative to the main file's directory, globs
    /// sorted, a missing plain file an error (the loader reports it too).
    fn include(&mut self, file: &Path, line: usize, pattern: &str, ctx: Ctx) {
        if self.depth > 32 {
            return;
        }
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            self.conf_dir.join(pattern)
        };
        let files: Vec<PathBuf> = if pattern.contains(['*', '?', '[']) {
            let mut v: Vec<PathBuf> = glob::glob(&full.display().to_string())
                .map(|g| g.filter_map(|r| r.ok()).filter(|p| p.is_file()).collect())
                .unwrap_or_default();
            v.sort();
            v
        } else {
            vec![full]
        };
        self.depth += 1;
        for f in files {
            match std::fs::read(&f) {
                Ok(text) => self.walk_text(&f, &text, ctx),
                Err(e) => {
                    let msg = format!(
                        "open() \"{}\" failed ({}: {})",
                        f.display(),
                        e.raw_os_error().unwrap_or(0),
                        crate::error::strerror(&e)
                    );
                    self.add(file, line, Verdict::Error, msg);
                }
            }
        }
        self.depth -= 1;
    }

    /// Scans every Lua source: the configuration's chunks, the `*_by_lua_file` files, and
    /// the modules they `require` that are found on the package path (each file once).
    fn scan_lua(&mut self, catalog: &ApiCatalog) {
        let mut seen: HashSet<PathBuf> = HashSet::new();
        let mut queue: VecDeque<LuaSource> = self.sources.drain(..).collect();
        for (path, at, line) in std::mem::take(&mut self.lua_files) {
            if !seen.insert(path.canonicalize().unwrap_or_else(|_| path.clone())) {
                continue;
            }
            match std::fs::read(&path) {
                Ok(code) => queue.push_back(LuaSource {
                    file: path,
                    first_line: 1,
                    code,
                }),
                Err(e) => {
                    let msg = format!(
                        "open() \"{}\" failed ({}: {})",
                        path.display(),
                        e.raw_os_error().unwrap_or(0),
                        crate::error::strerror(&e)
                    );
                    self.add(&at, line, Verdict::Error, msg);
                }
            }
        }
        let (path, cpath) = self.search_paths();
        while let Some(src) = queue.pop_front() {
            let at = |l: usize| src.first_line + l.saturating_sub(1);
            if let Some((l, msg)) = catalog.syntax_error(&src.code) {
                let what = format!("Lua syntax error: {msg}");
                self.add(&src.file, at(l), Verdict::Error, what);
            }
            let (uses, _) = lua_scan::scan(&src.code);
            let mut done: HashSet<(usize, String)> = HashSet::new();
            for u in uses {
                let line = at(u.line());
                match u {
                    Use::Api {
                        root,
                        path: chain,
                        alias_def,
                        assigned,
                        ..
                    } => {
                        let r = catalog.resolve(&root, &chain);
                        // `local re = ngx.re` is not a use of its own; `ngx.x = v` on a
                        // name the runtime lacks is the user's field, not an API.
                        let own_field = assigned
                            && r.status == ApiStatus::Missing
                            && r.name.matches('.').count() == chain.len();
                        let bare_namespace =
                            alias_def && r.namespace && r.status == ApiStatus::Supported;
                        if own_field || bare_namespace || !done.insert((line, r.name.clone())) {
                            continue;
                        }
                        let what = format!("API {}", r.name);
                        match r.status {
                            ApiStatus::Supported => {
                                self.add(&src.file, line, Verdict::Supported, what);
                            }
                            ApiStatus::Stub => self.add_detail(
                                &src.file,
                                line,
                                Verdict::Unsupported,
                                what,
                                "raises \"API not supported by openclaw\"",
                            ),
                            ApiStatus::Missing => self.add_detail(
                                &src.file,
                                line,
                                Verdict::Unsupported,
                                what,
                                "no such API in openclaw",
                            ),
                        }
                    }
                    Use::Require { name, .. } => {
                        if !done.insert((line, format!("module {name}"))) {
                            continue;
                        }
                        let what = format!("module {name}");
                        let builtin = catalog.module(&name);
                        let (verdict, detail) = if builtin == Some(ModuleKind::BuiltIn) {
                            (Verdict::Supported, "built in".to_string())
                        } else if let Some(f) = find_on(&path, &name) {
                            let shown = shown(&f, &self.prefix);
                            if seen.insert(f.canonicalize().unwrap_or_else(|_| f.clone())) {
                                match std::fs::read(&f) {
                                    Ok(code) => queue.push_back(LuaSource {
                                        file: f,
                                        first_line: 1,
                                        code,
                                    }),
                                    Err(e) => {
                                        let msg = format!("cannot read {shown}: {e}");
                                        self.add(&src.file, line, Verdict::Error, msg);
                                    }
                                }
                            }
                            (Verdict::Supported, shown)
                        } else if let Some(f) = find_on(&cpath, &name) {
                            let shown = shown(&f, &self.prefix);
                            (Verdict::Supported, format!("C module {shown}"))
                        } else if builtin == Some(ModuleKind::Bundled) {
                            (Verdict::Supported, "bundled".to_string())
                        } else {
                            (
                                Verdict::Unsupported,
                                "neither built in nor bundled, and not found on lua_package_path"
                                    .to_string(),
                            )
                        };
                        self.add_detail(&src.file, line, verdict, what, &detail);
                    }
                }
            }
        }
    }

    /// `package.path` and `package.cpath` as the runtime sets them (see `LuaEngine`).
    fn search_paths(&self) -> (String, String) {
        crate::lua::search_paths(
            &self.prefix,
            self.package_path.as_deref(),
            self.package_cpath.as_deref(),
        )
    }
}

/// The first file a `?` template of `path` gives for module `name`, as `require` looks.
fn find_on(path: &str, name: &str) -> Option<PathBuf> {
    let rel = name.replace('.', "/");
    path.split(';')
        .filter(|t| !t.is_empty())
        .map(|t| PathBuf::from(t.replace('?', &rel)))
        .find(|p| p.is_file())
}

/// A path as the report shows it: relative to the prefix when under it.
fn shown(p: &Path, prefix: &Path) -> String {
    match p.strip_prefix(prefix) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => p.display().to_string(),
    }
}

/// The report's text: findings sorted by file then line, notes, and the summary line.
fn render(r: &Report, prefix: &Path, quiet: bool) -> String {
    let mut rows: Vec<(String, &Finding)> = r
        .findings
        .iter()
        .map(|f| (shown(&f.file, prefix), f))
        .collect();
    rows.sort_by(|a, b| (&a.0, a.1.line).cmp(&(&b.0, b.1.line)));
    let mut out = String::new();
    let mut counts = [0usize; 4];
    for (file, f) in &rows {
        counts[f.verdict as usize] += 1;
        if quiet && f.verdict == Verdict::Supported {
            continue;
        }
        let at = if f.line > 0 {
            format!("{file}:{}", f.line)
        } else {
            file.clone()
        };
        out.push_str(&format!("{at}: {}: {}", f.verdict.word(), f.what));
        if let Some(d) = &f.detail {
            out.push_str(&format!(" ({d})"));
        }
        out.push('\n');
    }
    for n in &r.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out.push_str(&format!(
        "{} supported, {} ignored, {} unsupported, {} error{}\n",
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        if counts[3] == 1 { "" } else { "s" }
    ));
    out
}
