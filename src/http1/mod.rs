//! HTTP/1 message framing shared by the server (request bodies from clients) and the
//! upstream client (response bodies from peers): the body decoder and the drained read.

mod body;
mod names;
mod tcp;

pub use body::{decode, BodyState, Chunk, Step};
pub use names::header_name;
pub use tcp::{
    poll_fill, poll_fill_for, poll_read_drained, try_recv_drained, try_send, try_writev,
};

/// A `Content-Length` value read as nginx reads one (`ngx_atoof`): decimal digits only,
/// no sign; `None` when it is not one, or does not fit.
pub fn content_length(raw: &[u8]) -> Option<u64> {
    let raw = raw.trim_ascii();
    if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    raw.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// A header value httparse accepted. Only for those: httparse allows tab, space, visible
/// ASCII and obs-text in a value, exactly `HeaderValue`'s rules, so an ASCII value skips
/// `HeaderValue`'s byte-by-byte check (two instructions a byte on every header of every
/// head; a word-at-a-time ASCII test is far cheaper). Other values are checked as usual.
/// (Debug builds check every value anyway: `http` does in `from_maybe_shared_unchecked`.)
pub fn parsed_header_value(
    raw: bytes::Bytes,
) -> Result<http::HeaderValue, http::header::InvalidHeaderValue> {
    if raw.is_ascii() {
        // SAFETY: ASCII is valid UTF-8, the function's one requirement; httparse refused
        // the control bytes `HeaderValue` forbids.
        return Ok(unsafe { http::HeaderValue::from_maybe_shared_unchecked(raw) });
    }
    http::HeaderValue::from_maybe_shared(raw)
}

/// Whether a comma-separated header value (`Connection`, ...) lists `token`, in any case.
pub fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::content_length;

    #[test]
    fn content_length_is_digits_only() {
        assert_eq!(content_length(b"0"), Some(0));
        assert_eq!(content_length(b"1024"), Some(1024));
        assert_eq!(content_length(b" 42 "), Some(42));
        assert_eq!(content_length(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"+5",
            b"-1",
            b"5 5",
            b"0x10",
            b"18446744073709551616",
        ] {
            assert_eq!(
                content_length(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
