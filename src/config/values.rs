//! nginx value syntaxes: sizes (`10k`, `1m`, `2g`), times (`500ms`, `30s`, `1h30m`, `2d`),
//! numbers.

use std::time::Duration;

/// `ngx_parse_size`: a number with an optional k/K, m/M, g/G suffix.
pub fn size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1024),
        b'm' | b'M' => (&s[..s.len() - 1], 1024 * 1024),
        b'g' | b'G' => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    number(num)?.checked_mul(mult)
}

/// `ngx_parse_time` with `is_sec = 0`: a sequence of number+unit groups; a bare number means
/// seconds.
pub fn time(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
    }
    if let Some(n) = number(s) {
        return Some(Duration::from_secs(n));
    }
    let b = s.as_bytes();
    let mut total_ms: u64 = 0;
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return None;
        }
        let n: u64 = s[start..i].parse().ok()?;
        let unit_ms: u64 = if s[i..].starts_with("ms") {
            i += 2;
            1
        } else {
            let u = *b.get(i)?;
            i += 1;
            match u {
                b's' => 1000,
                b'm' => 60_000,
                b'h' => 3_600_000,
                b'd' => 86_400_000,
                b'w' => 7 * 86_400_000,
                b'M' => 30 * 86_400_000,
                b'y' => 365 * 86_400_000,
                _ => return None,
            }
        };
        total_ms = total_ms.checked_add(n.checked_mul(unit_ms)?)?;
    }
    Some(Duration::from_millis(total_ms))
}

/// A non-negative decimal integer.
pub fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times() {
        assert_eq!(size("10k"), Some(10240));
        assert_eq!(size("1M"), Some(1 << 20));
        assert_eq!(size("10q"), None);
        assert_eq!(time("75"), Some(Duration::from_secs(75)));
        assert_eq!(time("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(time("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(time("-1"), None);
        assert_eq!(time("abc"), None);
    }
}
