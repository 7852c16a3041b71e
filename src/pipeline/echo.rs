//! Running the echo module's content handler and filters (see `config::echo`).

use super::response::{special_response, Body, Response};
use super::RequestCtx;
use crate::config::{EchoCmd, LocConf};
use crate::observe::Level;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use std::time::Duration;

pub enum Outcome {
    Respond(Response),
    /// `echo_exec`: an internal redirect to this URI (with args).
    Exec(String),
}

/// `echo_location_async` subrequests still running: where their output goes in `out`.
/// Dropped early (the request was given up), they are cancelled.
struct Pending(Vec<(usize, tokio::task::JoinHandle<Bytes>)>);

impl Drop for Pending {
    fn drop(&mut self) {
        for (_, h) in &self.0 {
            h.abort();
        }
    }
}

/// Runs the location's echo commands in order and answers with what they output.
pub async fn run(ctx: &mut RequestCtx, cmds: &[EchoCmd]) -> Outcome {
    let mut out: Vec<u8> = vec![];
    let mut pending = Pending(Vec::new());
    for cmd in cmds {
        match cmd {
            EchoCmd::Echo { args, newline } => {
                let parts: Vec<String> = args.iter().map(|a| a.eval(ctx)).collect();
                out.extend_from_slice(parts.join(" ").as_bytes());
                if *newline {
                    out.push(b'\n');
                }
            }
            EchoCmd::Duplicate { count, text } => {
                let n = count.eval(ctx);
                let Ok(n) = n.trim().parse::<usize>() else {
                    ctx.log(Level::Error, &format!("invalid size specified: \"{n}\""));
                    return Outcome::Respond(special_response(ctx, 500));
                };
                out.extend_from_slice(text.eval(ctx).repeat(n).as_bytes());
            }
            EchoCmd::Flush => {}
            EchoCmd::Sleep(secs) => {
                let s = secs.eval(ctx);
                match s.trim().parse::<f64>() {
                    Ok(v) if v.is_finite() && v >= 0.0 => {
                        tokio::time::sleep(Duration::from_secs_f64(v)).await
                    }
                    _ => {
                        ctx.log(Level::Error, &format!("invalid sleep duration \"{s}\""));
                        return Outcome::Respond(special_response(ctx, 500));
                    }
                }
            }
            EchoCmd::Location {
                uri,
                args,
                concurrent,
            } => {
                let target = uri.eval(ctx);
                let (path, mut query) = match target.split_once('?') {
                    Some((p, q)) => (p.to_string(), Some(q.to_string())),
                    None => (target.clone(), None),
                };
                if let Some(a) = args {
                    query = Some(a.eval(ctx)).filter(|a| !a.is_empty());
                }
                let mut sub =
                    match super::subrequest(ctx, http::Method::GET, &path, query, None, true) {
                        Ok(s) => s,
                        Err(e) => {
                            ctx.log(Level::Error, &e);
                            return Outcome::Respond(special_response(ctx, 500));
                        }
                    };
                let output = async move {
                    let resp = Box::pin(super::process_internal(&mut sub)).await;
                    resp.body.into_bytes(super::BODY_MEMORY_CAP).await
                };
                if *concurrent {
                    // Runs beside the commands that follow, as the echo module's
                    // nonblocking subrequest does; its output keeps its place.
                    pending
                        .0
                        .push((out.len(), tokio::task::spawn_local(output)));
                } else {
                    out.extend_from_slice(&output.await);
                }
            }
            EchoCmd::Exec { uri, args } => {
                let mut target = uri.eval(ctx);
                if let Some(a) = args {
                    let a = a.eval(ctx);
                    if !a.is_empty() {
                        target = format!("{target}?{a}");
                    }
                }
                return Outcome::Exec(target);
            }
            EchoCmd::ReadRequestBody => {
                if let Some(b) = ctx.body.take() {
                    let (max, timeout) =
                        (ctx.conf.client_max_body_size, ctx.conf.client_body_timeout);
                    match super::collect_body(b, max, timeout).await {
                        Ok(data) if !data.is_empty() => ctx.body_data = Some(data),
                        Ok(_) => {}
                        Err((code, msg)) => {
                            ctx.log(Level::Error, &msg);
                            return Outcome::Respond(special_response(ctx, code));
                        }
                    }
                }
            }
            EchoCmd::RequestBody => {
                if let Some(b) = &ctx.body_data {
                    out.extend_from_slice(b);
                }
            }
        }
    }
    // The async subrequests' output, each at its place (from the last, so the earlier
    // places stay where they were).
    let mut outputs = Vec::with_capacity(pending.0.len());
    for (at, h) in pending.0.iter_mut() {
        outputs.push((*at, h.await.unwrap_or_default()));
    }
    pending.0.clear();
    for (at, data) in outputs.into_iter().rev() {
        out.splice(at..at, data);
    }
    let mut r = Response::new(200);
    r.headers
        .insert(CONTENT_TYPE, ctx.conf.default_type_value.clone());
    if ctx.method != http::Method::HEAD {
        r.body = Body::Full(Bytes::from(out));
    }
    Outcome::Respond(r)
}

/// `echo_before_body` / `echo_after_body` around the response body.
pub async fn filter(ctx: &mut RequestCtx, conf: &LocConf, resp: &mut Response) {
    if ctx.method == http::Method::HEAD {
        return;
    }
    let text = |ctx: &mut RequestCtx, list: &[crate::config::EchoText]| -> Vec<u8> {
        let mut out = vec![];
        for t in list {
            let parts: Vec<String> = t.args.iter().map(|a| a.eval(ctx)).collect();
            out.extend_from_slice(parts.join(" ").as_bytes());
            if t.newline {
                out.push(b'\n');
            }
        }
        out
    };
    let before = text(ctx, &conf.echo.before);
    let after = text(ctx, &conf.echo.after);
    let body = std::mem::replace(&mut resp.body, Body::Empty)
        .into_bytes(super::BODY_MEMORY_CAP)
        .await;
    let mut all = before;
    all.extend_from_slice(&body);
    all.extend_from_slice(&after);
    resp.body = Body::Full(Bytes::from(all));
    resp.memo = None;
}
