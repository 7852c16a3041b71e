//! Header names off the wire: the common ones, as clients and servers spell them
//! (canonical `Content-Type` or lower-case `content-type`), are recognised by length and
//! a compare or two; `HeaderName::from_bytes` (which lower-cases into a scratch buffer and
//! then matches all the standard names) is left for the rest.

use http::header::{self, HeaderName, InvalidHeaderName};

/// The header name `raw` spells: the same result as `HeaderName::from_bytes`.
pub fn header_name(raw: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
    let known = match raw.len() {
        3 => one(raw, &[(b"Age", b"age", header::AGE)]),
        4 => one(
            raw,
            &[
                (b"Host", b"host", header::HOST),
                (b"Date", b"date", header::DATE),
                (b"ETag", b"etag", header::ETAG),
                (b"Vary", b"vary", header::VARY),
            ],
        ),
        6 => one(
            raw,
            &[
                (b"Server", b"server", header::SERVER),
                (b"Accept", b"accept", header::ACCEPT),
                (b"Cookie", b"cookie", header::COOKIE),
                (b"Origin", b"origin", header::ORIGIN),
            ],
        ),
        7 => one(
            raw,
            &[
                (b"Expires", b"expires", header::EXPIRES),
                (b"Referer", b"referer", header::REFERER),
                (b"Upgrade", b"upgrade", header::UPGRADE),
            ],
        ),
        8 => one(raw, &[(b"Location", b"location", header::LOCATION)]),
        10 => one(
            raw,
            &[
                (b"Connection", b"connection", header::CONNECTION),
                (b"User-Agent", b"user-agent", header::USER_AGENT),
                (b"Set-Cookie", b"set-cookie", header::SET_COOKIE),
            ],
        ),
        12 => one(
            raw,
            &[(b"Content-Type", b"content-type", header::CONTENT_TYPE)],
        ),
        13 => one(
            raw,
            &[
                (b"Last-Modified", b"last-modified", header::LAST_MODIFIED),
                (b"Accept-Ranges", b"accept-ranges", header::ACCEPT_RANGES),
                (b"Cache-Control", b"cache-control", header::CACHE_CONTROL),
                (b"Authorization", b"authorization", header::AUTHORIZATION),
                (b"If-None-Match", b"if-none-match", header::IF_NONE_MATCH),
            ],
        ),
        14 => one(
            raw,
            &[(b"Content-Length", b"content-length", header::CONTENT_LENGTH)],
        ),
        15 => one(
            raw,
            &[
                (
                    b"Accept-Encoding",
                    b"accept-encoding",
                    header::ACCEPT_ENCODING,
                ),
                (
                    b"Accept-Language",
                    b"accept-language",
                    header::ACCEPT_LANGUAGE,
                ),
            ],
        ),
        16 => one(
            raw,
            &[(
                b"Content-Encoding",
                b"content-encoding",
                header::CONTENT_ENCODING,
            )],
        ),
        17 => one(
            raw,
            &[
                (
                    b"Transfer-Encoding",
                    b"transfer-encoding",
                    header::TRANSFER_ENCODING,
                ),
                (
                    b"If-Modified-Since",
                    b"if-modified-since",
                    header::IF_MODIFIED_SINCE,
                ),
            ],
        ),
        _ => None,
    };
    match known {
        Some(n) => Ok(n),
        None => HeaderName::from_bytes(raw),
    }
}

type Known = (&'static [u8], &'static [u8], HeaderName);

/// The name among `table` (all of `raw`'s length) spelt exactly as one of its two forms.
fn one(raw: &[u8], table: &[Known]) -> Option<HeaderName> {
    table
        .iter()
        .find(|(canon, lower, _)| raw == *canon || raw == *lower)
        .map(|(_, _, n)| n.clone())
}

#[cfg(test)]
mod tests {
    use super::header_name;
    use http::header::HeaderName;

    #[test]
    fn same_as_from_bytes() {
        let names: &[&[u8]] = &[
            b"Host",
            b"host",
            b"HOST",
            b"Content-Type",
            b"content-type",
            b"CoNtEnT-TyPe",
            b"ETag",
            b"Etag",
            b"Set-Cookie",
            b"X-Custom",
            b"x-custom",
            b"If-Modified-Since",
            b"Age",
            b"Transfer-Encoding",
            b"Accept-Language",
        ];
        for raw in names {
            assert_eq!(
                header_name(raw).unwrap(),
                HeaderName::from_bytes(raw).unwrap(),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        for bad in [&b""[..], b"bad name", b"a:b", b"\x00"] {
            assert!(header_name(bad).is_err());
        }
    }
}
