//! What a Lua chunk uses, for `openclaw migrate`: a real Lua tokenizer (long strings and
//! comments of any level, escapes, LuaJIT numbers) and a light reader over its tokens that
//! finds `ngx.*` / `openclaw.*` chains and `require`d modules.
//!
//! Aliases are followed: `local re = ngx.re` (then `re.match`), `local ngx = require "ngx"`,
//! `local a, b = ngx.var, ngx.req`, `x = ngx.shared` and copies of aliases. The reader is
//! scope-insensitive: an alias holds from its assignment to the end of the chunk, or until
//! the same name is assigned something else (a `local` of that name in an inner scope ends
//! it too, even after the scope closes). Dynamic keys (`ngx.shared[name]`) end a chain.

use std::collections::HashMap;

/// A token's kind and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// A name or keyword.
    Name(String),
    /// A short or long string, escapes decoded (invalid UTF-8 replaced).
    Str(String),
    Num,
    Sym(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    /// 1-based line where the token starts.
    pub line: usize,
}

/// Multi-byte symbols first, so the longest match wins.
const SYMS: &[&str] = &[
    "...", "..", "==", "~=", "<=", ">=", "::", "<<", ">>", "//", "+", "-", "*", "/", "%", "^", "#",
    "&", "~", "|", "<", ">", "=", "(", ")", "{", "}", "[", "]", ";", ":", ",", ".",
];

const KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

/// Globals whose fields are the API.
const ROOTS: &[&str] = &["ngx", "openclaw"];

/// Splits `src` into tokens. On a lexical error (unfinished string or long bracket, a
/// stray byte) the tokens read so far come back with `(line, message)`.
pub fn tokenize(src: &[u8]) -> (Vec<Token>, Option<(usize, String)>) {
    let mut lx = Lx {
        s: src,
        pos: 0,
        line: 1,
    };
    let mut out = vec![];
    // LuaJIT skips a first line starting with `#` (a shebang).
    if src.first() == Some(&b'#') {
        while lx.pos < src.len() && src[lx.pos] != b'\n' {
            lx.pos += 1;
        }
    }
    loop {
        match lx.next() {
            Ok(Some(t)) => out.push(t),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

struct Lx<'a> {
    s: &'a [u8],
    pos: usize,
    line: usize,
}

impl Lx<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.s.get(self.pos + ahead).copied()
    }

    fn err<T>(&self, msg: &str) -> Result<T, (usize, String)> {
        Err((self.line, msg.to_string()))
    }

    fn next(&mut self) -> Result<Option<Token>, (usize, String)> {
        loop {
            let Some(c) = self.peek(0) else {
                return Ok(None);
            };
            match c {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | 0x0b | 0x0c => self.pos += 1,
                b'-' if self.peek(1) == Some(b'-') => {
                    self.pos += 2;
                    if let Some(level) = self.long_open() {
                        self.long_body(level, "unfinished long comment")?;
                    } else {
                        while self.peek(0).is_some_and(|c| c != b'\n') {
                            self.pos += 1;
                        }
                    }
                }
                _ => break,
            }
        }
        let line = self.line;
        let tok = |tok| Ok(Some(Token { tok, line }));
        let c = self.s[self.pos];
        if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            let start = self.pos;
            while self
                .peek(0)
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80)
            {
                self.pos += 1;
            }
            let name = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
            return tok(Tok::Name(name));
        }
        if c.is_ascii_digit() || (c == b'.' && self.peek(1).is_some_and(|d| d.is_ascii_digit())) {
            self.number();
            return tok(Tok::Num);
        }
        if c == b'"' || c == b'\'' {
            let s = self.short_string(c)?;
            return tok(Tok::Str(s));
        }
        if c == b'[' {
            if let Some(level) = self.long_open() {
                let body = self.long_body(level, "unfinished long string")?;
                return tok(Tok::Str(body));
            }
        }
        for sym in SYMS {
            if self.s[self.pos..].starts_with(sym.as_bytes()) {
                self.pos += sym.len();
                return tok(Tok::Sym(sym));
            }
        }
        self.pos += 1;
        self.err(&format!("unexpected symbol '{}'", c.escape_ascii()))
    }

    /// Numbers as LuaJIT reads them: digits, letters (hex, exponents, `LL`/`ULL`/`i`
    /// suffixes), dots, and a sign right after an exponent letter.
    fn number(&mut self) {
        let hex = self.peek(0) == Some(b'0') && matches!(self.peek(1), Some(b'x' | b'X'));
        let mut prev = 0u8;
        while let Some(c) = self.peek(0) {
            let exp = if hex {
                matches!(prev, b'p' | b'P')
            } else {
                matches!(prev, b'e' | b'E')
            };
            if c.is_ascii_alphanumeric()
                || c == b'_'
                || c == b'.'
                || (exp && (c == b'+' || c == b'-'))
            {
                prev = c;
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// At `[`: the level of a long bracket `[==[` (consumed), or None (nothing consumed).
    fn long_open(&mut self) -> Option<usize> {
        if self.peek(0) != Some(b'[') {
            return None;
        }
        let eq = self.s[self.pos + 1..]
            .iter()
            .take_while(|&&b| b == b'=')
            .count();
        if self.peek(1 + eq) != Some(b'[') {
            return None;
        }
        self.pos += eq + 2;
        Some(eq)
    }

    /// A long string's body after its opening bracket, up to `]` `=`*level `]`; a newline
    /// right after the opening bracket is not part of it.
    fn long_body(&mut self, level: usize, unfinished: &str) -> Result<String, (usize, String)> {
        if self.peek(0) == Some(b'\r') {
            self.pos += 1;
        }
        if self.peek(0) == Some(b'\n') {
            self.pos += 1;
            self.line += 1;
        }
        let start = self.pos;
        while let Some(c) = self.peek(0) {
            if c == b'\n' {
                self.line += 1;
            } else if c == b']' {
                let eq = self.s[self.pos + 1..]
                    .iter()
                    .take_while(|&&b| b == b'=')
                    .count();
                if eq == level && self.peek(1 + eq) == Some(b']') {
                    let body = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                    self.pos += eq + 2;
                    return Ok(body);
                }
            }
            self.pos += 1;
        }
        self.err(unfinished)
    }

    fn short_string(&mut self, quote: u8) -> Result<String, (usize, String)> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek(0) else {
                return self.err("unfinished string");
            };
            self.pos += 1;
            match c {
                b'\n' => return self.err("unfinished string"),
                b'\\' => {
                    let Some(e) = self.peek(0) else {
                        return self.err("unfinished string");
                    };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'a' => out.push(7),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'v' => out.push(11),
                        b'\n' => {
                            self.line += 1;
                            out.push(b'\n');
                        }
                        b'x' => {
                            let hex = self.s.get(self.pos..self.pos + 2).unwrap_or_default();
                            let v = std::str::from_utf8(hex)
                                .ok()
                                .and_then(|h| u8::from_str_radix(h, 16).ok());
                            match v {
                                Some(b) => {
                                    out.push(b);
                                    self.pos += 2;
                                }
                                None => return self.err("invalid escape sequence"),
                            }
                        }
                        b'z' => {
                            while let Some(w) = self.peek(0) {
                                if w == b'\n' {
                                    self.line += 1;
                                } else if !w.is_ascii_whitespace() {
                                    break;
                                }
                                self.pos += 1;
                            }
                        }
                        b'u' if self.peek(0) == Some(b'{') => {
                            let rest = &self.s[self.pos + 1..];
                            let digits = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
                            let ch = std::str::from_utf8(&rest[..digits])
                                .ok()
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .and_then(char::from_u32);
                            match (ch, rest.get(digits)) {
                                (Some(ch), Some(b'}')) => {
                                    let mut buf = [0u8; 4];
                                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                                    self.pos += digits + 2;
                                }
                                _ => return self.err("invalid escape sequence"),
                            }
                        }
                        d if d.is_ascii_digit() => {
                            let mut v = u32::from(d - b'0');
                            for _ in 0..2 {
                                match self.peek(0) {
                                    Some(d) if d.is_ascii_digit() => {
                                        v = v * 10 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            match u8::try_from(v) {
                                Ok(b) => out.push(b),
                                Err(_) => return self.err("invalid escape sequence"),
                            }
                        }
                        // \\, \", \' and (leniently) anything else stand for themselves.
                        other => out.push(other),
                    }
                }
                c if c == quote => return Ok(String::from_utf8_lossy(&out).into_owned()),
                c => out.push(c),
            }
        }
    }
}

/// Something a name can stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Api { root: String, path: Vec<String> },
    Module(String),
}

/// One thing a chunk uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Use {
    /// `root.path...` (aliases expanded), e.g. `ngx` + `["re", "match"]`.
    Api {
        line: usize,
        root: String,
        path: Vec<String>,
        /// The chain is the whole value of an alias (`local re = ngx.re`).
        alias_def: bool,
        /// The chain is assigned to (`ngx.status = 404`, `ngx.myfield = x`).
        assigned: bool,
    },
    /// `require "name"` / `require("name")` with a literal name.
    Require { line: usize, name: String },
}

impl Use {
    pub fn line(&self) -> usize {
        match self {
            Use::Api { line, .. } | Use::Require { line, .. } => *line,
        }
    }
}

/// The names of one `local a, b =` (or `x =`) waiting for their values.
struct Pending {
    names: Vec<String>,
    /// The name whose value is expected next.
    idx: usize,
    /// The token index where that value must start.
    at: usize,
}

/// Reads what `src` uses; also returns the tokenizer's error, if any (what precedes it is
/// still read).
pub fn scan(src: &[u8]) -> (Vec<Use>, Option<(usize, String)>) {
    let (toks, err) = tokenize(src);
    (Reader::new(&toks).run(), err)
}

struct Reader<'a> {
    t: &'a [Token],
    aliases: HashMap<String, Target>,
    pending: Option<Pending>,
    /// Open brackets (`(`, `[`, `{`) around the current token.
    brackets: Vec<&'static str>,
    uses: Vec<Use>,
}

impl<'a> Reader<'a> {
    fn new(t: &'a [Token]) -> Self {
        Reader {
            t,
            aliases: HashMap::new(),
            pending: None,
            brackets: vec![],
            uses: vec![],
        }
    }

    fn tok(&self, i: usize) -> Option<&'a Tok> {
        self.t.get(i).map(|t| &t.tok)
    }

    fn sym(&self, i: usize, s: &str) -> bool {
        matches!(self.tok(i), Some(Tok::Sym(x)) if *x == s)
    }

    fn name(&self, i: usize) -> Option<&'a str> {
        match self.tok(i) {
            Some(Tok::Name(n)) if !KEYWORDS.contains(&n.as_str()) => Some(n),
            _ => None,
        }
    }

    fn keyword(&self, i: usize, k: &str) -> bool {
        matches!(self.tok(i), Some(Tok::Name(n)) if n == k)
    }

    /// Steps over token `i`, keeping the bracket stack.
    fn step(&mut self, i: usize) {
        if let Some(Tok::Sym(s)) = self.tok(i) {
            match *s {
                "(" | "[" | "{" => self.brackets.push(s),
                ")" | "]" | "}" => {
                    self.brackets.pop();
                }
                _ => {}
            }
        }
    }

    fn drop_pending(&mut self) {
        if let Some(p) = self.pending.take() {
            for n in &p.names[p.idx..] {
                self.aliases.remove(n);
            }
        }
    }

    fn run(mut self) -> Vec<Use> {
        let mut i = 0;
        while i < self.t.len() {
            if self.pending.as_ref().is_some_and(|p| i > p.at) {
                self.drop_pending();
            }
            if self.keyword(i, "local") {
                i = self.local(i);
                continue;
            }
            let Some(name) = self.name(i) else {
                self.step(i);
                i += 1;
                continue;
            };
            let member = i > 0
                && (self.sym(i - 1, ".")
                    || self.sym(i - 1, ":")
                    || self.sym(i - 1, "::")
                    || self.keyword(i - 1, "goto"));
            if member {
                i += 1;
                continue;
            }
            // `x = value` outside a table constructor: x is assigned (a second target of
            // `a, x = ...` just loses its alias).
            if self.sym(i + 1, "=") && self.brackets.last() != Some(&"{") {
                self.aliases.remove(name);
                if self.pending.is_none() && !(i > 0 && self.sym(i - 1, ",")) {
                    self.pending = Some(Pending {
                        names: vec![name.to_string()],
                        idx: 0,
                        at: i + 2,
                    });
                }
                i += 2;
                continue;
            }
            i = self.chain(i, name);
        }
        self.uses
    }

    /// `local function f` / `local a, b [= ...]` at `i`; returns where to go on.
    fn local(&mut self, i: usize) -> usize {
        if self.keyword(i + 1, "function") {
            if let Some(n) = self.name(i + 2) {
                self.aliases.remove(n);
            }
            return i + 2;
        }
        let mut names = vec![];
        let mut j = i + 1;
        while let Some(n) = self.name(j) {
            names.push(n.to_string());
            j += 1;
            // Lua 5.4 attributes (`<const>`) are not LuaJIT's, but skip them politely.
            if self.sym(j, "<") && self.name(j + 1).is_some() && self.sym(j + 2, ">") {
                j += 3;
            }
            if self.sym(j, ",") {
                j += 1;
            } else {
                break;
            }
        }
        for n in &names {
            self.aliases.remove(n);
        }
        if self.sym(j, "=") {
            self.drop_pending();
            self.pending = Some(Pending {
                names,
                idx: 0,
                at: j + 1,
            });
            return j + 1;
        }
        j
    }

    /// A name at `i` that is not a field: a `require`, an API chain or a plain name.
    /// Records what it uses and returns the index after it.
    fn chain(&mut self, i: usize, name: &str) -> usize {
        let line = self.t[i].line;
        let (base, mut j) = if name == "require" {
            let (module, end) = match (self.tok(i + 1), self.tok(i + 2)) {
                (Some(Tok::Str(m)), _) => (m.clone(), i + 2),
                (Some(Tok::Sym("(")), Some(Tok::Str(m))) if self.sym(i + 3, ")") => {
                    (m.clone(), i + 4)
                }
                _ => return i + 1,
            };
            self.uses.push(Use::Require {
                line,
                name: module.clone(),
            });
            let target = if module == "ngx" {
                Target::Api {
                    root: "ngx".into(),
                    path: vec![],
                }
            } else {
                Target::Module(module)
            };
            (target, end)
        } else if let Some(t) = self.aliases.get(name) {
            (t.clone(), i + 1)
        } else if ROOTS.contains(&name) {
            let root = name.to_string();
            (Target::Api { root, path: vec![] }, i + 1)
        } else {
            return i + 1;
        };
        let via_alias = self.aliases.contains_key(name);
        // The chain: `.name`, `["name"]`, and a final `:method`.
        let mut path = vec![];
        loop {
            if self.sym(j, ".") {
                if let Some(Tok::Name(n)) = self.tok(j + 1) {
                    path.push(n.clone());
                    j += 2;
                    continue;
                }
            } else if self.sym(j, "[") && self.sym(j + 2, "]") {
                if let Some(Tok::Str(k)) = self.tok(j + 1) {
                    path.push(k.clone());
                    j += 3;
                    continue;
                }
            } else if self.sym(j, ":") {
                if let Some(Tok::Name(n)) = self.tok(j + 1) {
                    path.push(n.clone());
                    j += 2;
                }
            }
            break;
        }
        let is_value_start = self.pending.as_ref().is_some_and(|p| p.at == i);
        let next_comma = self.sym(j, ",");
        let boundary = match self.tok(j) {
            None | Some(Tok::Sym(";")) => true,
            Some(Tok::Name(n)) => n != "and" && n != "or",
            _ => false,
        };
        let alias_def = is_value_start && (next_comma || boundary);
        if let Target::Api { root, path: p } = &base {
            if !(via_alias && path.is_empty()) {
                let mut full = p.clone();
                full.extend(path.iter().cloned());
                if !full.is_empty() {
                    self.uses.push(Use::Api {
                        line,
                        root: root.clone(),
                        path: full,
                        alias_def,
                        assigned: self.sym(j, "="),
                    });
                }
            }
        }
        if is_value_start {
            if let Some(mut p) = self.pending.take() {
                let target = match (&base, path.is_empty()) {
                    (Target::Api { root, path: bp }, _) => Some(Target::Api {
                        root: root.clone(),
                        path: bp.iter().chain(path.iter()).cloned().collect(),
                    }),
                    (Target::Module(m), true) => Some(Target::Module(m.clone())),
                    (Target::Module(_), false) => None,
                };
                match target {
                    Some(t) if alias_def => {
                        self.aliases.insert(p.names[p.idx].clone(), t);
                        p.idx += 1;
                        if next_comma && p.idx < p.names.len() {
                            p.at = j + 1;
                            self.pending = Some(p);
                        } else {
                            self.pending = Some(p);
                            self.drop_pending();
                        }
                    }
                    _ => {
                        self.pending = Some(p);
                        self.drop_pending();
                    }
                }
            }
        }
        j
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `root.a.b@line` for API uses (with `=` for alias definitions), `require name@line`.
    fn uses(src: &str) -> Vec<String> {
        let (u, err) = scan(src.as_bytes());
        assert_eq!(err, None);
        u.iter()
            .map(|u| match u {
                Use::Api {
                    line,
                    root,
                    path,
                    alias_def,
                    ..
                } => format!(
                    "{}{}.{}@{}",
                    if *alias_def { "=" } else { "" },
                    root,
                    path.join("."),
                    line
                ),
                Use::Require { line, name } => format!("require {name}@{line}"),
            })
            .collect()
    }

    #[test]
    fn tokens_long_strings_comments_numbers() {
        let (t, err) = tokenize(b"a = [==[x]]\n]=]y]==] .. 0x1p-4 + 1e+5 + 3ULL --[[ c\n]] b");
        assert_eq!(err, None);
        let kinds: Vec<_> = t.iter().map(|t| (t.tok.clone(), t.line)).collect();
        assert_eq!(
            kinds,
            vec![
                (Tok::Name("a".into()), 1),
                (Tok::Sym("="), 1),
                (Tok::Str("x]]\n]=]y".into()), 1),
                (Tok::Sym(".."), 2),
                (Tok::Num, 2),
                (Tok::Sym("+"), 2),
                (Tok::Num, 2),
                (Tok::Sym("+"), 2),
                (Tok::Num, 2),
                (Tok::Name("b".into()), 3),
            ]
        );
        let (t, _) = tokenize(
            br#"'a\'b\n\65\x41\u{48}\z
              c' "\"""#,
        );
        assert_eq!(t[0].tok, Tok::Str("a'b\nAAHc".into()));
        assert_eq!(t[1].tok, Tok::Str("\"".into()));
        assert_eq!(
            tokenize(b"x = 'open\ny'").1,
            Some((1, "unfinished string".into()))
        );
        assert_eq!(
            tokenize(b"--[==[ never\n closed ]=]").1,
            Some((2, "unfinished long comment".into()))
        );
    }

    #[test]
    fn strings_and_comments_are_not_code() {
        let src = "local s = [[ ngx.foo() ]] -- ngx.bar()\n--[=[ ngx.baz\n]] ]=] local t = \"ngx.qux\" .. 'ngx.x'\nngx.say(s)";
        assert_eq!(uses(src), vec!["ngx.say@4"]);
    }

    #[test]
    fn chains_methods_and_fields() {
        let src = "ngx.re.match(a, b)\nngx.shared.cache:get('k')\nlocal h = ngx.req.get_headers()['host']\nngx.var[1]\nx.ngx.say()\nlocal t = { ngx = 1 }\nngx.header[\"X-A\"] = 1";
        assert_eq!(
            uses(src),
            vec![
                "ngx.re.match@1",
                "ngx.shared.cache.get@2",
                "ngx.req.get_headers@3",
                "ngx.var@4",
                "ngx.header.X-A@7",
            ]
        );
    }

    #[test]
    fn aliases_and_requires() {
        let src = r#"
local ngx_re = ngx.re
local re2 = ngx_re
local say, var = ngx.say, ngx.var
local m = require "resty.lrucache"
local b = require("ngx.balancer")
local n = require "ngx"
ngx_re.match(x)
re2.foo()
say("hi")
n.req.socket()
m.new(10)
local ngx_re = other.thing
ngx_re.gone()
openclaw.keys.lookup(k)
"#;
        assert_eq!(
            uses(src),
            vec![
                "=ngx.re@2",
                "=ngx.say@4",
                "=ngx.var@4",
                "require resty.lrucache@5",
                "require ngx.balancer@6",
                "require ngx@7",
                "ngx.re.match@8",
                "ngx.re.foo@9",
                "ngx.req.socket@11",
                "openclaw.keys.lookup@15",
            ]
        );
    }

    #[test]
    fn global_assignment_aliases_and_non_aliases() {
        let src = "re = ngx.re\nre.find(x)\nlocal v = ngx.var.uri .. 'x'\nv.foo()\nlocal d = ngx.shared[name]\nd:get()\n";
        assert_eq!(
            uses(src),
            vec![
                "=ngx.re@1",
                "ngx.re.find@2",
                "ngx.var.uri@3",
                "ngx.shared@5"
            ]
        );
    }
}
