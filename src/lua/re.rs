//! `ngx.re.match`, `find`, `gmatch`, `sub`, `gsub` over PCRE2, with OpenResty's option
//! letters, 1-based positions, `false` for unmatched groups and `$N`/`${N}`/`${name}`
//! replacement templates.

use crate::re::{Captures, Flags, Regex};
use ahash::AHashMap as HashMap;
use mlua::{Function, Lua, LuaString, MultiValue, Table, Value};
use std::cell::RefCell;

/// `lua_regex_cache_max_entries`' default.
const CACHE_MAX: usize = 1024;

thread_local! {
    static CACHE: RefCell<HashMap<(String, Flags), Regex>> = RefCell::default();
}

struct Compiled {
    re: Regex,
    anchored: bool,
    utf: bool,
}

impl Compiled {
    /// Where to retry after an empty match at `at`: the next character in UTF-8 mode.
    fn step(&self, subject: &[u8], at: usize) -> usize {
        if !self.utf {
            return at + 1;
        }
        let n = match subject.get(at) {
            Some(b) if *b >= 0xF0 => 4,
            Some(b) if *b >= 0xE0 => 3,
            Some(b) if *b >= 0xC0 => 2,
            _ => 1,
        };
        at + n
    }
}

fn compile(lua: &Lua, pattern: &str, opts: Option<&str>) -> Result<Compiled, String> {
    let cache_max = lua
        .app_data_ref::<super::vm::Limits>()
        .map(|l| l.regex_cache_max_entries)
        .unwrap_or(CACHE_MAX);
    let mut f = Flags::default();
    let mut anchored = false;
    for c in opts.unwrap_or("").chars() {
        match c {
            'i' => f.caseless = true,
            'm' => f.multi_line = true,
            's' => f.dotall = true,
            'x' => f.extended = true,
            'u' | 'U' => f.utf = true,
            'a' => anchored = true,
            'o' | 'j' | 'd' | 'D' | 'J' => {}
            other => {
                return Err(format!(
                    "unknown flag \"{other}\" (flags \"{}\")",
                    opts.unwrap_or("")
                ))
            }
        }
    }
    let key = (pattern.to_string(), f);
    if let Some(re) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(Compiled {
            re,
            anchored,
            utf: f.utf,
        });
    }
    let re = Regex::with_flags(pattern, f)?;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() < cache_max {
            c.insert(key, re.clone());
        }
    });
    Ok(Compiled {
        re,
        anchored,
        utf: f.utf,
    })
}

impl Compiled {
    fn at(&self, subject: &[u8], start: usize) -> Option<Captures> {
        let caps = self.re.captures_at(subject, start)?;
        if self.anchored && caps.groups.first().copied().flatten().map(|g| g.0) != Some(start) {
            return None;
        }
        Some(caps)
    }
}

fn captures_table(lua: &Lua, re: &Regex, subject: &[u8], caps: &Captures) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for (i, g) in caps.groups.iter().enumerate() {
        let v = match g {
            Some((s, e)) => Value::String(lua.create_string(&subject[*s..*e])?),
            None => Value::Boolean(false),
        };
        t.raw_set(i, v)?;
    }
    for (name, i) in re.names.iter() {
        let v: Value = t.raw_get(*i)?;
        t.raw_set(name.as_str(), v)?;
    }
    Ok(t)
}

fn start_pos(ctx: &Option<Table>) -> mlua::Result<usize> {
    Ok(match ctx {
        Some(c) => c.get::<Option<i64>>("pos")?.unwrap_or(1).max(1) as usize - 1,
        None => 0,
    })
}

fn err_pair(lua: &Lua, msg: String) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_iter([
        Value::Nil,
        Value::String(lua.create_string(msg)?),
    ]))
}

/// Expands a replacement template against a match.
fn expand(tpl: &[u8], re: &Regex, subject: &[u8], caps: &Captures) -> Result<Vec<u8>, String> {
    let group = |i: usize| -> &[u8] {
        caps.groups
            .get(i)
            .copied()
            .flatten()
            .map(|(s, e)| &subject[s..e])
            .unwrap_or(b"")
    };
    let mut out = Vec::with_capacity(tpl.len());
    let mut i = 0;
    while i < tpl.len() {
        if tpl[i] != b'$' {
            out.push(tpl[i]);
            i += 1;
            continue;
        }
        match tpl.get(i + 1) {
            Some(b'$') => {
                out.push(b'$');
                i += 2;
            }
            Some(b'{') => {
                let end = tpl[i + 2..]
                    .iter()
                    .position(|&c| c == b'}')
                    .ok_or("the closing bracket in \"$\" variable is missing")?;
                let name = std::str::from_utf8(&tpl[i + 2..i + 2 + end]).unwrap_or("");
                if let Ok(n) = name.parse::<usize>() {
                    out.extend_from_slice(group(n));
                } else if let Some((_, n)) = re.names.iter().find(|(nm, _)| nm == name) {
                    out.extend_from_slice(group(*n));
                }
                i += 3 + end;
            }
            Some(c) if c.is_ascii_digit() => {
                let mut j = i + 1;
                while j < tpl.len() && tpl[j].is_ascii_digit() {
                    j += 1;
                }
                let n: usize = std::str::from_utf8(&tpl[i + 1..j])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                out.extend_from_slice(group(n));
                i = j;
            }
            _ => return Err("invalid capturing variable name found in \"$\"".into()),
        }
    }
    Ok(out)
}

fn substitute(
    lua: &Lua,
    (subject, pattern, repl, opts): (LuaString, String, Value, Option<String>),
    global: bool,
) -> mlua::Result<MultiValue> {
    let c = match compile(lua, &pattern, opts.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            return Ok(MultiValue::from_iter([
                Value::Nil,
                Value::Nil,
                Value::String(lua.create_string(e)?),
            ]))
        }
    };
    let subj = subject.as_bytes().to_vec();
    let mut out = Vec::with_capacity(subj.len());
    let mut pos = 0;
    let mut n = 0;
    while pos <= subj.len() {
        let Some(caps) = c.at(&subj, pos) else { break };
        let (s, e) = caps.groups[0].unwrap_or((pos, pos));
        out.extend_from_slice(&subj[pos..s]);
        match &repl {
            Value::Function(f) => {
                let t = captures_table(lua, &c.re, &subj, &caps)?;
                let r: Value = f.call(t)?;
                match r {
                    Value::String(rs) => out.extend_from_slice(&rs.as_bytes()),
                    Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
                    Value::Number(x) => out.extend_from_slice(super::api::lua_number(x).as_bytes()),
                    _ => {}
                }
            }
            Value::String(tpl) => match expand(&tpl.as_bytes(), &c.re, &subj, &caps) {
                Ok(v) => out.extend_from_slice(&v),
                Err(e) => {
                    return Ok(MultiValue::from_iter([
                        Value::Nil,
                        Value::Nil,
                        Value::String(lua.create_string(e)?),
                    ]))
                }
            },
            other => {
                return Err(mlua::Error::RuntimeError(format!(
                    "bad argument #3 to '{}' (string, number, or function expected, got {})",
                    if global { "gsub" } else { "sub" },
                    other.type_name()
                )))
            }
        }
        n += 1;
        if e == s {
            // An empty match: copy one character and move on.
            let next = c.step(&subj, e).min(subj.len());
            out.extend_from_slice(&subj[e..next]);
            pos = if next == e { e + 1 } else { next };
        } else {
            pos = e;
        }
        if !global {
            break;
        }
    }
    if pos < subj.len() {
        out.extend_from_slice(&subj[pos..]);
    }
    Ok(MultiValue::from_iter([
        Value::String(lua.create_string(out)?),
        Value::Integer(n),
    ]))
}

pub fn install(lua: &Lua, ngx: &Table) -> mlua::Result<()> {
    let re = lua.create_table()?;
    re.set(
        "match",
        lua.create_function(
            |lua, (subject, pattern, opts, ctx): (LuaString, String, Option<String>, Option<Table>)| {
                let c = match compile(lua, &pattern, opts.as_deref()) {
                    Ok(c) => c,
                    Err(e) => return err_pair(lua, e),
                };
                let subj = subject.as_bytes();
                let start = start_pos(&ctx)?;
                if start > subj.len() {
                    return Ok(MultiValue::from_iter([Value::Nil]));
                }
                match c.at(&subj, start) {
                    Some(caps) => {
                        if let (Some(ctx), Some((_, e))) = (&ctx, caps.groups[0]) {
                            ctx.set("pos", e + 1)?;
                        }
                        let t = captures_table(lua, &c.re, &subj, &caps)?;
                        Ok(MultiValue::from_iter([Value::Table(t)]))
                    }
                    None => Ok(MultiValue::from_iter([Value::Nil])),
                }
            },
        )?,
    )?;
    re.set(
        "find",
        lua.create_function(
            |lua,
             (subject, pattern, opts, ctx, nth): (
                LuaString,
                String,
                Option<String>,
                Option<Table>,
                Option<usize>,
            )| {
                let c = match compile(lua, &pattern, opts.as_deref()) {
                    Ok(c) => c,
                    Err(e) => {
                        return Ok(MultiValue::from_iter([
                            Value::Nil,
                            Value::Nil,
                            Value::String(lua.create_string(e)?),
                        ]))
                    }
                };
                let subj = subject.as_bytes();
                let start = start_pos(&ctx)?;
                if start > subj.len() {
                    return Ok(MultiValue::from_iter([Value::Nil]));
                }
                match c.at(&subj, start) {
                    Some(caps) => {
                        if let (Some(ctx), Some((_, e))) = (&ctx, caps.groups[0]) {
                            ctx.set("pos", e + 1)?;
                        }
                        match caps.groups.get(nth.unwrap_or(0)).copied().flatten() {
                            Some((s, e)) => Ok(MultiValue::from_iter([
                                Value::Integer(s as i64 + 1),
                                Value::Integer(e as i64),
                            ])),
                            None => Ok(MultiValue::from_iter([Value::Nil])),
                        }
                    }
                    None => Ok(MultiValue::from_iter([Value::Nil])),
                }
            },
        )?,
    )?;
    re.set(
        "gmatch",
        lua.create_function(
            |lua, (subject, pattern, opts): (LuaString, String, Option<String>)| {
                let c = match compile(lua, &pattern, opts.as_deref()) {
                    Ok(c) => c,
                    Err(e) => return err_pair(lua, e),
                };
                let subj = subject.as_bytes().to_vec();
                let pos = RefCell::new(Some(0usize));
                let iter: Function = lua.create_function(move |lua, ()| {
                    let Some(p) = *pos.borrow() else {
                        return Ok(Value::Nil);
                    };
                    if p > subj.len() {
                        *pos.borrow_mut() = None;
                        return Ok(Value::Nil);
                    }
                    match c.at(&subj, p) {
                        Some(caps) => {
                            let (s, e) = caps.groups[0].unwrap_or((p, p));
                            *pos.borrow_mut() = Some(if e == s { c.step(&subj, e) } else { e });
                            Ok(Value::Table(captures_table(lua, &c.re, &subj, &caps)?))
                        }
                        None => {
                            *pos.borrow_mut() = None;
                            Ok(Value::Nil)
                        }
                    }
                })?;
                Ok(MultiValue::from_iter([Value::Function(iter)]))
            },
        )?,
    )?;
    re.set(
        "sub",
        lua.create_function(|lua, args| substitute(lua, args, false))?,
    )?;
    re.set(
        "gsub",
        lua.create_function(|lua, args| substitute(lua, args, true))?,
    )?;
    ngx.set("re", re)?;
    Ok(())
}
