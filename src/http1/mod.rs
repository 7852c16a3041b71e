//! HTTP/1 message framing shared by the server (request bodies from clients) and the
//! upstream client (response bodies from peers): the body decoder and the drained read.

mod body;
mod tcp;

pub use body::{decode, BodyState, Chunk, Step};
pub use tcp::{poll_fill, poll_read_drained};
