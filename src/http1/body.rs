//! The HTTP/1 body decoder: `Content-Length`, chunked (RFC 9112 7.1) and, for responses,
//! read-until-close bodies, decoded from a read buffer that may also hold what follows.

use bytes::{Bytes, BytesMut};
use std::io;

/// A chunk-size or trailer line longer than this is refused.
const MAX_LINE: usize = 8192;

/// Where a body stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyState {
    Done,
    /// This many bytes still to come.
    Length(u64),
    Chunked(Chunk),
    /// Everything up to the end of the connection (a response without a length).
    UntilClose,
    /// The body was malformed or the connection failed: it cannot be read further.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// Reading a chunk-size line.
    Size,
    /// Inside a chunk's data: bytes left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk, up to an empty line (dropped).
    Trailers,
}

/// What decoding the buffered bytes gave.
pub enum Step {
    Data(Bytes),
    End,
    NeedMore,
}

/// Decodes what `buf` holds of the body, consuming it from `buf`; bytes past the body's
/// end stay there. An error leaves `state` as it was: the caller marks it failed.
pub fn decode(state: &mut BodyState, buf: &mut BytesMut) -> io::Result<Step> {
    loop {
        match *state {
            BodyState::Done => return Ok(Step::End),
            BodyState::Failed => return Err(invalid("the body cannot be read")),
            BodyState::UntilClose => {
                if buf.is_empty() {
                    return Ok(Step::NeedMore);
                }
                return Ok(Step::Data(buf.split().freeze()));
            }
            BodyState::Length(left) => {
                let Some((data, rest)) = take(buf, left) else {
                    return Ok(Step::NeedMore);
                };
                *state = if rest == 0 {
                    BodyState::Done
                } else {
                    BodyState::Length(rest)
                };
                return Ok(Step::Data(data));
            }
            BodyState::Chunked(Chunk::Size) => {
                let size = match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        let _ = buf.split_to(used);
                        size
                    }
                    Ok(httparse::Status::Partial) if buf.len() <= MAX_LINE => {
                        return Ok(Step::NeedMore)
                    }
                    _ => return Err(invalid("invalid chunked body")),
                };
                *state = BodyState::Chunked(if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                });
            }
            BodyState::Chunked(Chunk::Data(left)) => {
                let Some((data, rest)) = take(buf, left) else {
                    return Ok(Step::NeedMore);
                };
                *state = BodyState::Chunked(if rest == 0 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(rest)
                });
                return Ok(Step::Data(data));
            }
            BodyState::Chunked(Chunk::DataEnd) => {
                if buf.len() < 2 {
                    return Ok(Step::NeedMore);
                }
                if &buf[..2] != b"\r\n" {
                    return Err(invalid("invalid chunked body"));
                }
                let _ = buf.split_to(2);
                *state = BodyState::Chunked(Chunk::Size);
            }
            BodyState::Chunked(Chunk::Trailers) => {
                let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                    if buf.len() > MAX_LINE {
                        return Err(invalid("invalid chunked body"));
                    }
                    return Ok(Step::NeedMore);
                };
                let _ = buf.split_to(end + 2);
                if end == 0 {
                    *state = BodyState::Done;
                }
            }
        }
    }
}

/// Up to `left` bytes of data off the front of `buf` and how many remain to come after
/// them; `None` when `buf` is empty.
fn take(buf: &mut BytesMut, left: u64) -> Option<(Bytes, u64)> {
    if buf.is_empty() {
        return None;
    }
    let n = left.min(buf.len() as u64);
    Some((buf.split_to(n as usize).freeze(), left - n))
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(mut state: BodyState, input: &[u8]) -> (Vec<u8>, BodyState, Vec<u8>) {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Ok(Step::Data(d)) = decode(&mut state, &mut buf) {
            out.extend_from_slice(&d);
        }
        (out, state, buf.to_vec())
    }

    #[test]
    fn chunked_bodies_decode_and_leave_the_next_message() {
        let (data, state, rest) = decode_all(
            BodyState::Chunked(Chunk::Size),
            b"3\r\nabc\r\nA;ext=1\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nGET /",
        );
        assert_eq!(data, b"abc0123456789");
        assert_eq!(state, BodyState::Done);
        assert_eq!(rest, b"GET /");
    }

    #[test]
    fn a_partial_chunk_waits_for_more() {
        let (data, state, _) = decode_all(BodyState::Chunked(Chunk::Size), b"5\r\nab");
        assert_eq!(data, b"ab");
        assert_eq!(state, BodyState::Chunked(Chunk::Data(3)));
    }

    #[test]
    fn bad_chunk_sizes_fail() {
        let mut buf = BytesMut::from(&b"zz\r\n"[..]);
        let mut state = BodyState::Chunked(Chunk::Size);
        assert!(decode(&mut state, &mut buf).is_err());
        // A chunk's data not followed by CRLF.
        let (data, state, _) = decode_all(BodyState::Chunked(Chunk::Size), b"3\r\nabcX\r\n");
        assert_eq!(data, b"abc");
        assert_eq!(state, BodyState::Chunked(Chunk::DataEnd));
    }

    #[test]
    fn a_length_body_stops_at_its_length() {
        let (data, state, rest) = decode_all(BodyState::Length(4), b"abcdGET");
        assert_eq!(data, b"abcd");
        assert_eq!(state, BodyState::Done);
        assert_eq!(rest, b"GET");
    }

    #[test]
    fn an_until_close_body_takes_everything() {
        let (data, state, rest) = decode_all(BodyState::UntilClose, b"abc");
        assert_eq!(data, b"abc");
        assert_eq!(state, BodyState::UntilClose);
        assert!(rest.is_empty());
    }
}
