//! URI parsing as nginx does it: percent-decoding, `//` merging, `.`/`..` resolution.

/// True when `raw` has nothing to decode, merge or resolve: it normalizes to itself.
pub fn is_plain_path(raw: &str) -> bool {
    let b = raw.as_bytes();
    raw.starts_with('/')
        && !b.iter().enumerate().any(|(i, &c)| {
            c == b'%' || (c == b'/' && matches!(b.get(i + 1), Some(b'/') | Some(b'.')))
        })
}

/// Decodes and normalises a request path. `None` when the path is invalid (escapes above
/// the root, has a NUL byte or bad UTF-8): the request gets 400.
pub fn normalize_path(raw: &str, merge_slashes: bool) -> Option<String> {
    if !raw.starts_with('/') {
        return None;
    }
    // Fast path: nothing to decode or resolve.
    if is_plain_path(raw) {
        return Some(raw.to_string());
    }
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
    if decoded.contains(&0) {
        return None;
    }
    let s = String::from_utf8(decoded).ok()?;
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = s.split('/').collect();
    let n = segs.len();
    for (i, seg) in segs.iter().enumerate().skip(1) {
        let last = i == n - 1;
        match *seg {
            "" if merge_slashes && !last => {}
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop()?;
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut r = String::with_capacity(s.len());
    for seg in &out {
        r.push('/');
        r.push_str(seg);
    }
    if r.is_empty() {
        r.push('/');
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize_path("/a//b/./c/../d", true).unwrap(), "/a/b/d");
        assert_eq!(normalize_path("/a/", true).unwrap(), "/a/");
        assert_eq!(normalize_path("/", true).unwrap(), "/");
        assert_eq!(normalize_path("/%41b", true).unwrap(), "/Ab");
        assert_eq!(normalize_path("/a/..", true).unwrap(), "/");
        assert!(normalize_path("/../etc/passwd", true).is_none());
        assert!(normalize_path("/%2e%2e/x", true).is_none());
        assert!(normalize_path("/a%00", true).is_none());
    }
}
