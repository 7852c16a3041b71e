//! PCRE2 regular expressions (nginx and OpenResty use PCRE, so patterns and error messages
//! match theirs), with capture extraction shaped for nginx variables.

use std::sync::Arc;

/// PCRE compile options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags {
    pub caseless: bool,
    pub multi_line: bool,
    pub dotall: bool,
    pub extended: bool,
    pub utf: bool,
}

#[derive(Clone)]
pub struct Regex {
    inner: Arc<pcre2::bytes::Regex>,
    /// Named groups as (name, group index).
    pub names: Arc<[(String, usize)]>,
    pub pattern: Arc<str>,
}

/// Byte ranges of a match's groups: index 0 is the whole match.
#[derive(Debug, Clone, Default)]
pub struct Captures {
    pub groups: Vec<Option<(usize, usize)>>,
}

impl Captures {
    pub fn get<'a>(&self, subject: &'a str, i: usize) -> Option<&'a str> {
        let (s, e) = (*self.groups.get(i)?)?;
        subject.get(s..e)
    }
}

impl std::fmt::Debug for Regex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Regex({:?})", self.pattern)
    }
}

impl Regex {
    /// Compiles with JIT. The error text is nginx's:
    /// `pcre2_compile() failed: MSG in "PATTERN" [at "REST"]`.
    pub fn new(pattern: &str, caseless: bool) -> Result<Regex, String> {
        Self::with_flags(
            pattern,
            Flags {
                caseless,
                ..Flags::default()
            },
        )
    }

    /// Compiles with PCRE options (OpenResty's `ngx.re` option letters map onto these).
    pub fn with_flags(pattern: &str, f: Flags) -> Result<Regex, String> {
        let mut b = pcre2::bytes::RegexBuilder::new();
        b.caseless(f.caseless)
            .multi_line(f.multi_line)
            .dotall(f.dotall)
            .extended(f.extended)
            .utf(f.utf)
            .ucp(f.utf)
            .jit_if_available(true);
        match b.build(pattern) {
            Ok(re) => {
                let mut names = vec![];
                for (i, n) in re.capture_names().iter().enumerate() {
                    if let Some(n) = n {
                        names.push((n.clone(), i));
                    }
                }
                Ok(Regex {
                    inner: Arc::new(re),
                    names: names.into(),
                    pattern: pattern.into(),
                })
            }
            Err(e) => {
                // pcre2 only exposes the message through Display: strip its prefix.
                let full = e.to_string();
                let msg = full.rsplit_once(": ").map(|(_, m)| m).unwrap_or(&full);
                let mut s = format!("pcre2_compile() failed: {msg} in \"{pattern}\"");
                if let Some(rest) = e.offset().and_then(|off| pattern.get(off..)) {
                    if !rest.is_empty() {
                        s.push_str(&format!(" at \"{rest}\""));
                    }
                }
                Err(s)
            }
        }
    }

    pub fn is_match(&self, subject: &str) -> bool {
        self.inner.is_match(subject.as_bytes()).unwrap_or(false)
    }

    pub fn captures(&self, subject: &str) -> Option<Captures> {
        let caps = self.inner.captures(subject.as_bytes()).ok()??;
        let groups = (0..caps.len())
            .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
            .collect();
        Some(Captures { groups })
    }

    /// Captures of the first match at or after byte `start` of `subject`.
    pub fn captures_at(&self, subject: &[u8], start: usize) -> Option<Captures> {
        let mut locs = self.inner.capture_locations();
        self.inner
            .captures_read_at(&mut locs, subject, start)
            .ok()??;
        let groups = (0..locs.len()).map(|i| locs.get(i)).collect();
        Some(Captures { groups })
    }

    pub fn captures_len(&self) -> usize {
        self.inner.captures_len()
    }
}
