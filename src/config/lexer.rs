//! nginx's configuration tokenizer, byte for byte the state machine of `ngx_conf_read_token`,
//! plus lua-nginx-module's raw reader for `*_by_lua_block { ... }` bodies.

use crate::error::{Error, Result};

/// How a statement read by [`Lexer::next_stmt`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `;`
    Semicolon,
    /// `{`
    BlockStart,
    /// `}` with no words before it.
    BlockDone,
    /// End of input with no words pending.
    Eof,
}

pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    /// Current line (1-based), as nginx counts it for error messages.
    pub line: usize,
    /// Where errors point: a file path, or "command line" for `-g`.
    pub origin: String,
    from_cmdline: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a [u8], origin: String) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
            origin,
            from_cmdline: false,
        }
    }

    /// A lexer for `-g` directives: errors say "in command line".
    pub fn cmdline(src: &'a [u8]) -> Self {
        let mut l = Lexer::new(src, "command line".into());
        l.from_cmdline = true;
        l
    }

    /// `msg in file:line` (or `msg in command line`), nginx's error suffix.
    pub fn err(&self, msg: impl AsRef<str>) -> Error {
        Error::config(self.at(msg.as_ref(), self.line))
    }

    pub fn at(&self, msg: &str, line: usize) -> String {
        if self.from_cmdline {
            format!("{msg} in command line")
        } else {
            format!("{} in {}:{}", msg, self.origin, line)
        }
    }

    /// Reads one statement: its words and how it ended.
    pub fn next_stmt(&mut self, words: &mut Vec<String>) -> Result<End> {
        words.clear();
        let mut last_space = true;
        let mut need_space = false;
        let mut sharp_comment = false;
        let mut quoted = false;
        let mut d_quoted = false;
        let mut s_quoted = false;
        let mut variable = false;
        let mut start = self.pos;
        loop {
            if self.pos >= self.src.len() {
                if !words.is_empty() || !last_space {
                    if self.from_cmdline {
                        return Err(Error::config(
                            "unexpected end of parameter, expecting \";\" in command line",
                        ));
                    }
                    return Err(self.err("unexpected end of file, expecting \";\" or \"}\""));
                }
                return Ok(End::Eof);
            }
            let ch = self.src[self.pos];
            self.pos += 1;
            if ch == b'\n' {
                self.line += 1;
                if sharp_comment {
                    sharp_comment = false;
                }
            }
            if sharp_comment {
                continue;
            }
            if quoted {
                quoted = false;
                continue;
            }
            if need_space {
                if is_space(ch) {
                    last_space = true;
                    need_space = false;
                    continue;
                }
                if ch == b';' {
                    return Ok(End::Semicolon);
                }
                if ch == b'{' {
                    return Ok(End::BlockStart);
                }
                if ch == b')' {
                    last_space = true;
                    need_space = false;
                } else {
                    return Err(self.err(format!("unexpected \"{}\"", ch as char)));
                }
            }
            if last_space {
                start = self.pos - 1;
                if is_space(ch) {
                    continue;
                }
                match ch {
                    b';' | b'{' => {
                        if words.is_empty() {
                            return Err(self.err(format!("unexpected \"{}\"", ch as char)));
                        }
                        return Ok(if ch == b'{' {
                            End::BlockStart
                        } else {
                            End::Semicolon
                        });
                    }
                    b'}' => {
                        if !words.is_empty() {
                            return Err(self.err("unexpected \"}\""));
                        }
                        return Ok(End::BlockDone);
                    }
                    b'#' => {
                        sharp_comment = true;
                        continue;
                    }
                    b'\\' => {
                        quoted = true;
                        last_space = false;
                        continue;
                    }
                    b'"' => {
                        start += 1;
                        d_quoted = true;
                        last_space = false;
                        continue;
                    }
                    b'\'' => {
                        start += 1;
                        s_quoted = true;
                        last_space = false;
                        continue;
                    }
                    b'$' => {
                        variable = true;
                        last_space = false;
                        continue;
                    }
                    _ => {
                        last_space = false;
                    }
                }
            } else {
                if ch == b'{' && variable {
                    continue;
                }
                variable = false;
                if ch == b'\\' {
                    quoted = true;
                    continue;
                }
                if ch == b'$' {
                    variable = true;
                    continue;
                }
                let mut found = false;
                if d_quoted {
                    if ch == b'"' {
                        d_quoted = false;
                        need_space = true;
                        found = true;
                    }
                } else if s_quoted {
                    if ch == b'\'' {
                        s_quoted = false;
                        need_space = true;
                        found = true;
                    }
                } else if is_space(ch) || ch == b';' || ch == b'{' {
                    last_space = true;
                    found = true;
                }
                if found {
                    words.push(unescape(&self.src[start..self.pos - 1]));
                    if ch == b';' {
                        return Ok(End::Semicolon);
                    }
                    if ch == b'{' {
                        return Ok(End::BlockStart);
                    }
                }
            }
        }
    }

    /// Reads a raw Lua body after the opening `{` of a `*_by_lua_block`, up to the matching
    /// `}`; braces inside strings, long strings and comments do not count.
    pub fn read_lua_block(&mut self) -> Result<String> {
        let start = self.pos;
        let start_line = self.line;
        let mut depth = 1usize;
        let s = self.src;
        while self.pos < s.len() {
            let ch = s[self.pos];
            match ch {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b'{' => {
                    depth += 1;
                    self.pos += 1;
                }
                b'}' => {
                    depth -= 1;
                    self.pos += 1;
                    if depth == 0 {
                        let body = &s[start..self.pos - 1];
                        return Ok(String::from_utf8_lossy(body).into_owned());
                    }
                }
                b'"' | b'\'' => {
                    self.pos += 1;
                    loop {
                        if self.pos >= s.len() {
                            return Err(self.err("Lua code block missing the closing quote"));
                        }
                        let c = s[self.pos];
                        self.pos += 1;
                        if c == b'\\' {
                            if self.pos < s.len() && s[self.pos] == b'\n' {
                                self.line += 1;
                            }
                            self.pos += 1;
                        } else if c == ch {
                            break;
                        } else if c == b'\n' {
                            return Err(self.err("Lua code block has an unfinished string"));
                        }
                    }
                }
                b'[' => {
                    if let Some(level) = long_bracket(&s[self.pos..]) {
                        self.pos += level + 2;
                        self.skip_long(level)?;
                    } else {
                        self.pos += 1;
                    }
                }
                b'-' if s.get(self.pos + 1) == Some(&b'-') => {
                    self.pos += 2;
                    if let Some(level) = long_bracket(&s[self.pos..]) {
                        self.pos += level + 2;
                        self.skip_long(level)?;
                    } else {
                        while self.pos < s.len() && s[self.pos] != b'\n' {
                            self.pos += 1;
                        }
                    }
                }
                _ => self.pos += 1,
            }
        }
        Err(Error::config(self.at(
            "unexpected end of file, expecting \"}\" for the Lua code block started",
            start_line,
        )))
    }

    /// Skips a long string/comment body up to `]` `=`*level `]`.
    fn skip_long(&mut self, level: usize) -> Result<()> {
        let s = self.src;
        while self.pos < s.len() {
            let c = s[self.pos];
            self.pos += 1;
            if c == b'\n' {
                self.line += 1;
            } else if c == b']' {
                let eq = s[self.pos..].iter().take_while(|&&b| b == b'=').count();
                if eq == level && s.get(self.pos + eq) == Some(&b']') {
                    self.pos += eq + 1;
                    return Ok(());
                }
            }
        }
        Err(self.err("Lua code block has an unfinished long bracket"))
    }
}

/// `[[` or `[==[` at the start of `s`: returns the level (number of `=`).
fn long_bracket(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let eq = s[1..].iter().take_while(|&&b| b == b'=').count();
    (s.get(1 + eq) == Some(&b'[')).then_some(eq)
}

fn is_space(ch: u8) -> bool {
    matches!(ch, b' ' | b'\t' | b'\r' | b'\n')
}

/// nginx's escape rules: `\"`, `\'`, `\\` drop the backslash; `\t`, `\r`, `\n` translate;
/// any other backslash is kept as is.
fn unescape(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() {
            match raw[i + 1] {
                b'"' | b'\'' | b'\\' => {
                    i += 1;
                }
                b't' => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                b'r' => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmts(src: &str) -> Vec<(Vec<String>, End)> {
        let mut l = Lexer::new(src.as_bytes(), "t.conf".into());
        let mut out = vec![];
        let mut w = vec![];
        loop {
            let end = l.next_stmt(&mut w).unwrap();
            out.push((w.clone(), end));
            if end == End::Eof {
                return out;
            }
        }
    }

    #[test]
    fn words_quotes_and_comments() {
        let s = stmts("a \"b c\" 'd;e' f\\;g # c {\n h ${x}y;");
        // nginx keeps the backslash of escapes other than quotes, backslash, t, r, n.
        assert_eq!(s[0].0, vec!["a", "b c", "d;e", "f\\;g", "h", "${x}y"]);
        assert_eq!(s[0].1, End::Semicolon);
    }

    #[test]
    fn escapes() {
        let s = stmts(r#"a "x\"y\n\z";"#);
        assert_eq!(s[0].0, vec!["a", "x\"y\n\\z"]);
    }

    #[test]
    fn lua_block_braces_in_strings_and_comments() {
        let src =
            "x { local s = \"}\" -- }\n local t = [[ } ]] --[==[ } ]==] local u = {a={}} }\n y;";
        let mut l = Lexer::new(src.as_bytes(), "t".into());
        let mut w = vec![];
        assert_eq!(l.next_stmt(&mut w).unwrap(), End::BlockStart);
        let body = l.read_lua_block().unwrap();
        assert!(body.ends_with("local u = {a={}} "), "{body}");
        assert_eq!(l.next_stmt(&mut w).unwrap(), End::Semicolon);
        assert_eq!(w, vec!["y"]);
    }
}
