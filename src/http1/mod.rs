//! HTTP/1 message framing shared by the server (request bodies from clients) and the
//! upstream client (response bodies from peers): the body decoder and the drained read.

mod body;
mod names;
mod tcp;

pub use body::{decode, BodyState, Chunk, Step};
pub use names::header_name;
pub use tcp::{poll_fill, poll_fill_for, poll_read_drained};

/// Whether a comma-separated header value (`Connection`, ...) lists `token`, in any case.
pub fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}
