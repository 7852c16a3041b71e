//! Running headers-more's commands (see `config::headers_more`): output headers in the
//! header filter, input headers at the end of the rewrite phase.

use super::{HeaderSet, RequestCtx, Response};
use crate::config::MoreHeaders;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};

/// A `Content-Type` value as `-t` compares it: whole (parameters too, as headers-more
/// does), lowercase.
fn media_type(v: Option<&HeaderValue>) -> String {
    v.and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn applies(cmd: &MoreHeaders, status: Option<u16>, ctype: &str) -> bool {
    (cmd.statuses.is_empty() || status.is_some_and(|s| cmd.statuses.contains(&s)))
        && (cmd.types.is_empty() || cmd.types.iter().any(|t| t == ctype))
}

/// Runs the commands over `headers`; values are evaluated against the request.
fn run<H: HeaderSet>(
    ctx: &mut RequestCtx,
    cmds: &[MoreHeaders],
    status: Option<u16>,
    mut headers: H,
) -> H {
    for cmd in cmds {
        // Each command sees the Content-Type the previous ones left.
        if !applies(cmd, status, &media_type(headers.get_value(&CONTENT_TYPE))) {
            continue;
        }
        for op in &cmd.ops {
            if op.prefix {
                for k in headers.names() {
                    if k.as_str().starts_with(op.name.as_str()) {
                        headers.delete(&k);
                    }
                }
                continue;
            }
            let Ok(name) = HeaderName::from_bytes(op.name.as_bytes()) else {
                continue;
            };
            let value = op.value.as_ref().map(|v| v.eval(ctx)).unwrap_or_default();
            if value.is_empty() {
                headers.delete(&name);
                continue;
            }
            if cmd.replace_only && !headers.has(&name) {
                continue;
            }
            let Ok(value) = HeaderValue::from_str(&value) else {
                continue;
            };
            if cmd.append {
                headers.add(name, value);
            } else {
                headers.set(name, value);
            }
        }
    }
    headers
}

/// `more_set_headers` / `more_clear_headers`, after the other header filters.
pub fn output(ctx: &mut RequestCtx, resp: &mut Response) {
    let cmds = ctx.conf.more_headers.clone();
    // Values may read $sent_http_*; expose the headers so far.
    ctx.resp_headers = resp.headers.clone();
    let headers = std::mem::take(&mut resp.headers);
    resp.headers = run(ctx, &cmds, Some(resp.status), headers);
}

/// `more_set_input_headers` / `more_clear_input_headers`, at the end of the rewrite
/// phase: `$http_*`, `$host` and later phases see the new values.
pub fn input(ctx: &mut RequestCtx) {
    let cmds = ctx.conf.more_input_headers.clone();
    let headers = std::mem::take(&mut ctx.headers);
    ctx.headers = run(ctx, &cmds, None, headers);
    if let Some(h) = ctx
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
    {
        let host = h.trim().trim_end_matches('.');
        let host = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        ctx.host = host.to_ascii_lowercase();
    }
}
