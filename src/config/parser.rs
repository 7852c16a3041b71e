//! Statements -> a directive tree, with `include` expanded and every directive checked
//! against the table (context, block, arity), reporting errors exactly as nginx words them.

use super::directives::{self, Ctx, DATA, LIF, LOCATION, SIF};
use super::lexer::{End, Lexer};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One directive of the tree.
#[derive(Debug, Clone)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    /// Child directives of a `{ ... }` block; for data blocks (`map`, `types`) each child is
    /// one `key value...;` line with the key as `name`.
    pub block: Option<Vec<Directive>>,
    /// For `*_by_lua_block`: the raw Lua source (the last entry of `args` is not used).
    pub lua: Option<String>,
    pub file: Arc<str>,
    /// The line the directive ended on, as nginx reports it.
    pub line: usize,
    /// For blocks: the line of the closing `}`.
    pub end_line: usize,
}

impl Directive {
    /// `msg in file:line` for this directive.
    pub fn err(&self, msg: impl AsRef<str>) -> Error {
        Error::config(self.at(msg.as_ref()))
    }

    pub fn at(&self, msg: &str) -> String {
        if &*self.file == "command line" {
            format!("{msg} in command line")
        } else {
            format!("{} in {}:{}", msg, self.file, self.line)
        }
    }

    /// `invalid value "X" in "name" directive`-style helper.
    pub fn invalid(&self, value: &str) -> Error {
        self.err(format!(
            "invalid value \"{}\" in \"{}\" directive",
            value, self.name
        ))
    }

    pub fn children(&self) -> &[Directive] {
        self.block.as_deref().unwrap_or(&[])
    }
}

/// Parses configuration files into directive trees.
pub struct Parser {
    /// Directory relative `include` paths resolve against (the main file's directory).
    pub conf_dir: PathBuf,
    /// Notices to log once the error log is open (ignored directives).
    pub notices: Vec<String>,
    depth: usize,
}

impl Parser {
    pub fn new(conf_dir: PathBuf) -> Self {
        Parser {
            conf_dir,
            notices: vec![],
            depth: 0,
        }
    }

    /// Parses a whole file in the main context.
    pub fn parse_file(&mut self, path: &Path, ctx: Ctx) -> Result<Vec<Directive>> {
        let text = std::fs::read(path).map_err(|e| {
            Error::config(format!(
                "open() \"{}\" failed ({}: {})",
                path.display(),
                e.raw_os_error().unwrap_or(0),
                crate::error::strerror(&e)
            ))
        })?;
        let mut lx = Lexer::new(&text, path.display().to_string());
        let mut out = vec![];
        self.parse_block(&mut lx, ctx, true, &mut out)?;
        Ok(out)
    }

    /// Parses `-g` directives (main context).
    pub fn parse_cmdline(&mut self, text: &str) -> Result<Vec<Directive>> {
        let mut lx = Lexer::cmdline(text.as_bytes());
        let mut out = vec![];
        self.parse_block(&mut lx, directives::MAIN, true, &mut out)?;
        Ok(out)
    }

    fn parse_block(
        &mut self,
        lx: &mut Lexer,
        ctx: Ctx,
        top: bool,
        out: &mut Vec<Directive>,
    ) -> Result<()> {
        let file: Arc<str> = Arc::from(lx.origin.as_str());
        let mut words = Vec::new();
        loop {
            let end = lx.next_stmt(&mut words)?;
            match end {
                End::Eof => {
                    if !top {
                        return Err(lx.err("unexpected end of file, expecting \"}\""));
                    }
                    return Ok(());
                }
                End::BlockDone => {
                    if top {
                        return Err(lx.err("unexpected \"}\""));
                    }
                    return Ok(());
                }
                End::Semicolon | End::BlockStart => {}
            }
            let line = lx.line;
            let name = words[0].clone();
            let args: Vec<String> = words[1..].to_vec();
            let mk = |block, lua| Directive {
                name: name.clone(),
                args: args.clone(),
                block,
                lua,
                file: file.clone(),
                line,
                end_line: line,
            };
            if ctx == DATA {
                // Data blocks: lines are `key value...;`, plus `include`.
                if name == "include" && end == End::Semicolon && args.len() == 1 {
                    self.include(&mk(None, None), ctx, out)?;
                    continue;
                }
                if end == End::BlockStart {
                    return Err(lx.err("unexpected \"{\""));
                }
                out.push(mk(None, None));
                continue;
            }
            if name.ends_with("_by_lua_block") {
                if let Some(spec) = directives::lookup(&name) {
                    let d = mk(None, None);
                    check_ctx(&d, spec.ctx, ctx)?;
                    if end != End::BlockStart {
                        return Err(d.err(format!("directive \"{name}\" has no opening \"{{\"")));
                    }
                    let body = lx.read_lua_block()?;
                    let d = mk(None, Some(body));
                    check_arity(&d, spec.min, spec.max)?;
                    out.push(d);
                    continue;
                }
            }
            let d = mk(None, None);
            let spec = match directives::lookup_in(&name, ctx) {
                Some(s) => s,
                None => {
                    if let Some(allowed) = directives::ignored(&name) {
                        check_ctx(&d, allowed, ctx)?;
                        if end == End::BlockStart {
                            return Err(d.err("unexpected \"{\""));
                        }
                        self.notices.push(
                            d.at(&format!("the \"{name}\" directive is ignored by openclaw")),
                        );
                        continue;
                    }
                    return Err(d.err(format!("unknown directive \"{name}\"")));
                }
            };
            check_ctx(&d, spec.ctx, ctx)?;
            if !spec.block && end != End::Semicolon {
                return Err(d.err(format!("directive \"{name}\" is not terminated by \";\"")));
            }
            if spec.block && end != End::BlockStart {
                return Err(d.err(format!("directive \"{name}\" has no opening \"{{\"")));
            }
            if spec.flag {
                if args.len() != 1 {
                    return Err(d.err(format!(
                        "invalid number of arguments in \"{name}\" directive"
                    )));
                }
                if args[0] != "on" && args[0] != "off" {
                    return Err(d.err(format!(
                        "invalid value \"{}\" in \"{}\" directive, it must be \"on\" or \"off\"",
                        args[0], name
                    )));
                }
            }
            check_arity(&d, spec.min, spec.max)?;
            if name == "include" {
                self.include(&d, ctx, out)?;
                continue;
            }
            if spec.block {
                let inner = match name.as_str() {
                    "if" => {
                        if ctx & (LOCATION | LIF) != 0 {
                            LIF
                        } else {
                            SIF
                        }
                    }
                    _ => spec.inner,
                };
                let mut children = vec![];
                self.parse_block(lx, inner, false, &mut children)?;
                let mut blk = mk(Some(children), None);
                blk.end_line = lx.line;
                out.push(blk);
            } else {
                out.push(d);
            }
        }
    }

    fn include(&mut self, d: &Directive, ctx: Ctx, out: &mut Vec<Directive>) -> Result<()> {
        if self.depth > 32 {
            return Err(d.err("too deep \"include\" nesting"));
        }
        let pattern = &d.args[0];
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            self.conf_dir.join(pattern)
        };
        let full_s = full.display().to_string();
        let files: Vec<PathBuf> = if pattern.contains(['*', '?', '[']) {
            let mut v: Vec<PathBuf> = glob::glob(&full_s)
                .map_err(|e| d.err(format!("glob() \"{full_s}\" failed ({e})")))?
                .filter_map(|r| r.ok())
                .filter(|p| p.is_file())
                .collect();
            v.sort();
            v
        } else {
            vec![full.clone()]
        };
        self.depth += 1;
        for f in files {
            let text = std::fs::read(&f).map_err(|e| {
                d.err(format!(
                    "open() \"{}\" failed ({}: {})",
                    f.display(),
                    e.raw_os_error().unwrap_or(0),
                    crate::error::strerror(&e)
                ))
            })?;
            let mut lx = Lexer::new(&text, f.display().to_string());
            self.parse_block(&mut lx, ctx, true, out)?;
        }
        self.depth -= 1;
        Ok(())
    }
}

fn check_ctx(d: &Directive, allowed: Ctx, ctx: Ctx) -> Result<()> {
    // An `if` block at location level also accepts what the location itself accepts
    // only where the table says so (LIF); the same holds for server `if` (SIF).
    if allowed & ctx == 0 {
        return Err(d.err(format!("\"{}\" directive is not allowed here", d.name)));
    }
    Ok(())
}

fn check_arity(d: &Directive, min: usize, max: usize) -> Result<()> {
    if d.args.len() < min || d.args.len() > max {
        return Err(d.err(format!(
            "invalid number of arguments in \"{}\" directive",
            d.name
        )));
    }
    Ok(())
}
