//! Subrequests: a request made from inside another, through the same pipeline (used by
//! `ngx.location.capture` and `echo_location`).

use super::RequestCtx;
use bytes::Bytes;
use http::Method;

/// nginx's limit on nested subrequests.
pub const MAX_DEPTH: u32 = 50;

/// The context of a subrequest of `parent` for `uri` (a path) and `args`: the parent's
/// headers (without body framing), `internal` set, `body`, else the parent's read body
/// when `forward_body`.
pub fn subrequest(
    parent: &RequestCtx,
    method: Method,
    uri: &str,
    args: Option<String>,
    body: Option<Bytes>,
    forward_body: bool,
) -> Result<Box<RequestCtx>, String> {
    if parent.subrequest_depth >= MAX_DEPTH {
        return Err("subrequests cycle".into());
    }
    let path = super::normalize_path(uri, true)
        .ok_or_else(|| format!("unsafe uri \"{uri}\" was detected"))?;
    let request_uri = match &args {
        Some(a) => format!("{uri}?{a}"),
        None => uri.to_string(),
    };
    let mut headers = parent.headers.clone();
    headers.remove(http::header::CONTENT_LENGTH);
    headers.remove(http::header::TRANSFER_ENCODING);
    let mut sub = RequestCtx::new(
        parent.gen.clone(),
        parent.conn.clone(),
        method,
        parent.version,
        headers,
        request_uri,
        path,
        args,
        parent.host.clone(),
        parent.server,
    );
    sub.internal = true;
    sub.subrequest_depth = parent.subrequest_depth + 1;
    sub.body_data = body.or_else(|| {
        if forward_body {
            parent.body_data.clone()
        } else {
            None
        }
    });
    Ok(Box::new(sub))
}
