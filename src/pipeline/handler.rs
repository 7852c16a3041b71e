//! The phase driver for built-in handlers: server rewrite, location find, rewrite, access,
//! content (return, try_files, static), error pages, header filter.

use super::response::{header_filter, special_response, Body, Response};
use super::statics::{self, StaticOutcome};
use super::{Part, Phase, ReqBody, RequestCtx, ScriptOutcome};
use crate::config::{cidr_contains, Cond, Location, Op, RewriteFlag};
use crate::observe::Level;
use crate::router::{self, RegexMatch};
use crate::vars::Complex;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use http::Method;
use http_body_util::BodyExt;
use std::sync::Arc;

/// nginx stops after this many internal redirects / rewrite cycles.
const MAX_REDIRECTS: u32 = 10;

/// Runs a request through every phase and returns the response to send.
pub async fn process(ctx: &mut RequestCtx, body: ReqBody) -> Response {
    ctx.body = Some(body);
    process_internal(ctx).await
}

/// Runs a request whose body (if any) is already in `ctx` — subrequests come this way.
pub async fn process_internal(ctx: &mut RequestCtx) -> Response {
    let mut resp = run(ctx, Start::Server).await;
    let mut pages = 0;
    while resp.special && resp.status >= 300 && ctx.redirects <= MAX_REDIRECTS {
        // Only one error_page unless recursive_error_pages is on.
        if pages > 0 && !ctx.conf.recursive_error_pages {
            break;
        }
        match error_page(ctx, resp.status).await {
            Some(r) => resp = r,
            None => break,
        }
        pages += 1;
    }
    header_filter(ctx, &mut resp);
    let conf = ctx.conf;
    if !conf.echo.before.is_empty() || !conf.echo.after.is_empty() {
        super::echo::filter(ctx, &conf, &mut resp).await;
    }
    body_filter(ctx, &mut resp).await;
    super::compress::apply(ctx, &mut resp);
    resp
}

/// `body_filter_by_lua*` over the (buffered) body.
async fn body_filter(ctx: &mut RequestCtx, resp: &mut Response) {
    let Some(chunk) = ctx.conf.lua.body_filter.clone() else {
        return;
    };
    let Some(engine) = ctx.gen.engine.clone() else {
        return;
    };
    let body = match std::mem::replace(&mut resp.body, Body::Empty) {
        Body::Empty => Bytes::new(),
        Body::Full(b) => b,
        s @ Body::Stream(_) => s.into_bytes(BODY_MEMORY_CAP).await,
        Body::File {
            mut file,
            remaining,
        } => {
            // Filtering needs the body in memory; very large files skip the filter.
            if remaining > BODY_MEMORY_CAP {
                ctx.log(
                    Level::Error,
                    "body_filter_by_lua* skipped: the response body is over 64 MiB",
                );
                resp.body = Body::File { file, remaining };
                return;
            }
            use std::io::Read;
            let mut buf = Vec::with_capacity(remaining as usize);
            let _ = (&mut file).take(remaining).read_to_end(&mut buf);
            Bytes::from(buf)
        }
    };
    let out = engine.run_body_filter(&chunk, ctx, body);
    resp.body = Body::Full(out);
}

/// A 400 answer for a request rejected before routing (bad Host, bad URI).
pub fn special_400(ctx: &mut RequestCtx) -> Response {
    special_status(ctx, 400)
}

/// A status-only answer for a request rejected before routing. 494 ("Request Header Or
/// Cookie Too Large") and 495-497 (TLS errors, e.g. plain HTTP to a TLS port) are nginx's
/// internal codes, sent as 400.
pub fn special_status(ctx: &mut RequestCtx, code: u16) -> Response {
    let mut r = special_response(ctx, code);
    if (494..=497).contains(&code) {
        r.status = 400;
    }
    header_filter(ctx, &mut r);
    r
}

enum Start {
    Server,
    Find,
    Named(Arc<Location>),
}

enum Flow {
    Continue,
    Break,
    Restart,
    Respond(Response),
}

async fn run(ctx: &mut RequestCtx, start: Start) -> Response {
    let mut next = start;
    // A Lua phase handler, when the location has one: its response ends the request, an
    // `ngx.exec` restarts location matching.
    macro_rules! script_phase {
        ($phase:expr) => {
            if has_script(ctx, $phase) {
                match script_phase(ctx, $phase).await {
                    Some(ScriptOutcome::Respond(r)) => return r,
                    Some(ScriptOutcome::Exec(target)) => {
                        exec_target(ctx, &target, &mut next);
                        continue;
                    }
                    _ => {}
                }
            }
        };
    }
    if matches!(next, Start::Server) {
        let server = ctx.server;
        if !server.script.is_empty() {
            match script(ctx, &server.script) {
                Flow::Respond(r) => return r,
                Flow::Restart => ctx.internal = true,
                _ => {}
            }
        }
        next = Start::Find;
    }
    loop {
        if ctx.redirects > MAX_REDIRECTS {
            ctx.log(
                Level::Error,
                &format!(
                    "rewrite or internal redirection cycle while processing \"{}\"",
                    ctx.uri
                ),
            );
            return special_response(ctx, 500);
        }
        // SAFETY (the `Part`s): locations come from the request's server, which its
        // generation owns.
        let found = match std::mem::replace(&mut next, Start::Find) {
            Start::Named(l) => Some((unsafe { Part::of(&l) }, None)),
            _ if router::auto_redirect(&ctx.server, &ctx.uri) => {
                let mut target = format!("{}/", ctx.uri);
                if let Some(a) = &ctx.args {
                    target.push('?');
                    target.push_str(a);
                }
                let mut r = special_response(ctx, 301);
                if let Ok(v) = HeaderValue::from_str(&target) {
                    r.headers.insert(LOCATION, v);
                }
                return r;
            }
            _ => {
                let server = ctx.server;
                router::find_location(&server, &ctx.uri).map(|(l, m)| (unsafe { Part::of(l) }, m))
            }
        };
        match found {
            Some((loc, m)) => {
                // SAFETY: a location's settings are owned by the location.
                let conf = unsafe { Part::of(&loc.conf) };
                if loc.conf.internal && !ctx.internal {
                    ctx.conf = conf;
                    return special_response(ctx, 404);
                }
                ctx.conf = conf;
                let scripted = (!loc.script.is_empty()).then_some(loc);
                ctx.location = Some(loc);
                if let Some(m) = m {
                    set_captures(ctx, m);
                }
                if let Some(r) = check_content_length(ctx) {
                    return r;
                }
                let flow = match scripted {
                    None => Flow::Continue,
                    Some(loc) => script(ctx, &loc.script),
                };
                match flow {
                    Flow::Respond(r) => return r,
                    Flow::Restart => {
                        // nginx marks a request whose URI a rewrite changed as internal.
                        ctx.internal = true;
                        ctx.redirects += 1;
                        continue;
                    }
                    Flow::Continue | Flow::Break => {}
                }
            }
            None => {
                ctx.location = None;
                // SAFETY: a server's settings are owned by the server.
                ctx.conf = unsafe { Part::of(&ctx.server.conf) };
            }
        }
        if ctx.conf.lua_need_request_body && ctx.body.is_some() {
            if let Some(b) = ctx.body.take() {
                let (max, timeout) = (ctx.conf.client_max_body_size, ctx.conf.client_body_timeout);
                match collect_body(b, max, timeout).await {
                    Ok(data) if !data.is_empty() => ctx.body_data = Some(data),
                    Ok(_) => {}
                    Err((code, msg)) => {
                        ctx.log(Level::Error, &msg);
                        return special_response(ctx, code);
                    }
                }
            }
        }
        if !ctx.conf.more_input_headers.is_empty() {
            super::more_headers::input(ctx);
        }
        script_phase!(Phase::Rewrite);
        if !ctx.conf.limit_reqs.is_empty() {
            if let Some(r) = limit_req(ctx).await {
                return r;
            }
        }
        if let Some(r) = limit_conn(ctx) {
            return r;
        }
        if let Some(r) = access(ctx) {
            return r;
        }
        if ctx.conf.keys.source.is_some() {
            if let Some(r) = super::keys::check(ctx).await {
                return r;
            }
        }
        script_phase!(Phase::Access);
        if let Some(pass) = ctx.conf.proxy_pass.clone() {
            return crate::proxy::forward(ctx, pass).await;
        }
        if let Some(cmds) = ctx.conf.echo.cmds.clone() {
            match super::echo::run(ctx, &cmds).await {
                super::echo::Outcome::Respond(r) => return r,
                super::echo::Outcome::Exec(target) => {
                    exec_target(ctx, &target, &mut next);
                    continue;
                }
            }
        }
        if ctx.conf.lua.content.is_some() {
            script_phase!(Phase::Content);
            // A content handler that let the request go on: nginx answers 200 with
            // whatever was produced, here nothing.
            return Response::new(200);
        }
        if let Some(r) = discard_body(ctx).await {
            return r;
        }
        if let Some(tf) = ctx.conf.try_files.clone() {
            match try_files(ctx, &tf) {
                TryFiles::Found => {}
                TryFiles::Code(c) => return special_response(ctx, c),
                TryFiles::Named(name) => match ctx.server.named.get(&name) {
                    Some(l) => {
                        ctx.redirects += 1;
                        next = Start::Named(l.clone());
                        continue;
                    }
                    None => {
                        ctx.log(
                            Level::Error,
                            &format!("could not find named location \"@{name}\""),
                        );
                        return special_response(ctx, 500);
                    }
                },
                TryFiles::Redirect(uri) => {
                    internal_redirect(ctx, &uri);
                    continue;
                }
            }
        }
        match statics::serve(ctx) {
            StaticOutcome::Response(r) => return r,
            StaticOutcome::Index(uri) => {
                internal_redirect(ctx, &uri);
                continue;
            }
        }
    }
}

/// `ngx.exec`: an internal redirect to a URI (with args) or a named location.
fn exec_target(ctx: &mut RequestCtx, target: &str, next: &mut Start) {
    if let Some(name) = target.strip_prefix('@') {
        if let Some(l) = ctx.server.named.get(name) {
            ctx.internal = true;
            ctx.redirects += 1;
            *next = Start::Named(l.clone());
            return;
        }
    }
    internal_redirect(ctx, target);
}

/// The location's script handler for `phase` (rewrite, access or content), if any.
fn phase_chunk(ctx: &RequestCtx, phase: Phase) -> Option<&Arc<crate::config::LuaChunk>> {
    let lua = &ctx.conf.lua;
    match phase {
        Phase::Rewrite => lua.rewrite.as_ref(),
        Phase::Access => lua.access.as_ref(),
        _ => lua.content.as_ref(),
    }
}

/// Whether the location has a handler for `phase` (checked before building the phase's
/// future: most requests have none, and the future's result is large to move).
fn has_script(ctx: &RequestCtx, phase: Phase) -> bool {
    phase_chunk(ctx, phase).is_some()
}

/// Runs the script handler of `phase` for the current location, if there is one.
async fn script_phase(ctx: &mut RequestCtx, phase: Phase) -> Option<ScriptOutcome> {
    let chunk = phase_chunk(ctx, phase)?.clone();
    let Some(engine) = ctx.gen.engine.clone() else {
        ctx.log(Level::Alert, "no script engine for a configured handler");
        return Some(ScriptOutcome::Respond(special_response(ctx, 500)));
    };
    match engine.run(phase, &chunk, ctx).await {
        ScriptOutcome::Next => None,
        other => Some(other),
    }
}

/// Changes the URI (and args if the target has `?`) and restarts location matching.
fn internal_redirect(ctx: &mut RequestCtx, target: &str) {
    match target.split_once('?') {
        Some((u, a)) => {
            ctx.uri = u.to_string();
            ctx.args = Some(a.to_string());
        }
        None => ctx.uri = target.to_string(),
    }
    ctx.internal = true;
    ctx.redirects += 1;
}

fn set_captures(ctx: &mut RequestCtx, m: RegexMatch) {
    for (name, i) in m.re.names.iter() {
        let v = m.caps.get(&m.subject, *i).unwrap_or("").to_string();
        ctx.user_vars.insert(name.as_str().into(), v);
    }
    ctx.captures = Some(m);
}

/// Runs rewrite-module instructions.
fn script(ctx: &mut RequestCtx, ops: &[Op]) -> Flow {
    let mut changed = false;
    let flow = exec(ctx, ops, &mut changed);
    match flow {
        Flow::Continue if changed => Flow::Restart,
        f => f,
    }
}

fn exec(ctx: &mut RequestCtx, ops: &[Op], changed: &mut bool) -> Flow {
    for op in ops {
        match op {
            Op::Set { name, value } => {
                let v = value.eval(ctx);
                ctx.user_vars.insert(name.clone(), v);
            }
            Op::Break => return Flow::Break,
            Op::SetMisc { name, value, f } => {
                let src = value.eval(ctx);
                let extra = match f {
                    crate::config::SetFn::Random(to) => Some(to.eval(ctx)),
                    _ => None,
                };
                let current = ctx.user_vars.get(name).cloned();
                match f.apply(src, current.as_deref(), extra) {
                    Some(v) => {
                        ctx.user_vars.insert(name.clone(), v);
                    }
                    None => {
                        ctx.log(
                            Level::Error,
                            &format!("set-misc: bad input for \"${name}\""),
                        );
                        ctx.user_vars.insert(name.clone(), String::new());
                    }
                }
            }
            Op::SetLua { name, chunk, args } => {
                let args: Vec<String> = args.iter().map(|a| a.eval(ctx)).collect();
                let Some(engine) = ctx.gen.engine.clone() else {
                    return Flow::Respond(special_response(ctx, 500));
                };
                match engine.run_set(chunk, ctx, args) {
                    Some(v) => {
                        ctx.user_vars.insert(name.clone(), v);
                    }
                    None => return Flow::Respond(special_response(ctx, 500)),
                }
            }
            Op::Return { code, text, fixed } => {
                return Flow::Respond(do_return(ctx, *code, text.as_ref(), fixed.as_ref()))
            }
            Op::Rewrite {
                regex,
                replacement,
                flag,
            } => {
                let subject = ctx.uri.clone();
                let Some(caps) = regex.captures(&subject) else {
                    continue;
                };
                set_captures(
                    ctx,
                    RegexMatch {
                        re: regex.clone(),
                        caps,
                        subject,
                    },
                );
                let mut target = replacement.eval(ctx);
                let is_url = target.starts_with("http://")
                    || target.starts_with("https://")
                    || replacement.raw.starts_with("$scheme");
                if is_url || matches!(flag, RewriteFlag::Redirect | RewriteFlag::Permanent) {
                    let code = if *flag == RewriteFlag::Permanent {
                        301
                    } else {
                        302
                    };
                    if let Some(stripped) = target.strip_suffix('?') {
                        target = stripped.to_string();
                    } else if let Some(a) = &ctx.args {
                        target.push(if target.contains('?') { '&' } else { '?' });
                        target.push_str(a);
                    }
                    let mut r = special_response(ctx, code);
                    if let Ok(v) = HeaderValue::from_str(&target) {
                        r.headers.insert(LOCATION, v);
                    }
                    return Flow::Respond(r);
                }
                match target.split_once('?') {
                    Some((u, a)) => {
                        let mut args = a.to_string();
                        if !args.is_empty() || !target.ends_with('?') {
                            if let Some(old) = &ctx.args {
                                if !target.ends_with('?') {
                                    args.push('&');
                                    args.push_str(old);
                                }
                            }
                        }
                        ctx.uri = u.to_string();
                        ctx.args = if args.is_empty() { None } else { Some(args) };
                    }
                    None => ctx.uri = target,
                }
                match flag {
                    RewriteFlag::Last => return Flow::Restart,
                    RewriteFlag::Break => return Flow::Break,
                    _ => *changed = true,
                }
            }
            Op::If { cond, ops, conf } => {
                if eval_cond(ctx, cond) {
                    if let Some(c) = conf {
                        // SAFETY: an `if` block's settings are owned by the script that
                        // holds it, in the request's location or server.
                        ctx.conf = unsafe { Part::of(c) };
                    }
                    match exec(ctx, ops, changed) {
                        Flow::Continue => {}
                        f => return f,
                    }
                }
            }
        }
    }
    Flow::Continue
}

fn eval_cond(ctx: &mut RequestCtx, cond: &Cond) -> bool {
    match cond {
        Cond::Value(v) => {
            let s = v.eval(ctx);
            !s.is_empty() && s != "0"
        }
        Cond::Eq(a, b, neg) => (a.eval(ctx) == b.eval(ctx)) != *neg,
        Cond::Regex(v, re, neg) => {
            let subject = v.eval(ctx);
            match re.captures(&subject) {
                Some(caps) => {
                    if !*neg {
                        set_captures(
                            ctx,
                            RegexMatch {
                                re: re.clone(),
                                caps,
                                subject,
                            },
                        );
                    }
                    !*neg
                }
                None => *neg,
            }
        }
        Cond::File(v, test, neg) => {
            let p = v.eval(ctx);
            let m = std::fs::metadata(&p);
            let r = match test {
                b'f' => m.is_ok_and(|m| m.is_file()),
                b'd' => m.is_ok_and(|m| m.is_dir()),
                b'e' => m.is_ok(),
                _ => {
                    use std::os::unix::fs::PermissionsExt;
                    m.is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
                }
            };
            r != *neg
        }
    }
}

fn do_return(
    ctx: &mut RequestCtx,
    code: u16,
    text: Option<&Complex>,
    fixed: Option<&Bytes>,
) -> Response {
    if code == 444 {
        let mut r = Response::new(444);
        r.drop_connection = true;
        return r;
    }
    if matches!(code, 301 | 302 | 303 | 307 | 308) {
        let mut r = special_response(ctx, code);
        if let Some(t) = text {
            if let Ok(v) = HeaderValue::from_str(&t.eval(ctx)) {
                r.headers.insert(LOCATION, v);
            }
        }
        return r;
    }
    let Some(t) = text else {
        return special_response(ctx, code);
    };
    let mut r = Response::new(code);
    r.headers
        .insert(CONTENT_TYPE, ctx.conf.default_type_value.clone());
    if ctx.method != Method::HEAD {
        r.body = Body::Full(match fixed {
            Some(b) => b.clone(),
            None => Bytes::from(t.eval(ctx)),
        });
    }
    r
}

/// The preaccess phase's `limit_req`: reject over the burst, delay within it.
async fn limit_req(ctx: &mut RequestCtx) -> Option<Response> {
    // Like nginx, limits apply to main requests only.
    if ctx.conf.limit_reqs.is_empty() || ctx.limit_req_status.is_some() || ctx.subrequest_depth > 0
    {
        return None;
    }
    let conf = ctx.conf;
    let now = crate::limit::now_ms();
    let mut delay_ms = 0u64;
    let mut delayed: Option<(u64, String)> = None;
    let mut account = true;
    let mut rejected: Option<(u64, String)> = None;
    for l in conf.limit_reqs.iter() {
        let key = l.key.eval(ctx);
        if key.is_empty() {
            continue;
        }
        if key.len() > 65535 {
            continue;
        }
        let decision = match &l.redis {
            None => l.zone.check(key.as_bytes(), l.burst, l.delay, now, account),
            Some(r) => match r
                .check(key.as_bytes(), l.zone.rate, l.burst, l.delay, account)
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    if r.should_log() {
                        ctx.log(
                            Level::Error,
                            &format!(
                                "limit_req zone \"{}\": redis {} failed ({e}), {}",
                                l.zone.name,
                                r.url,
                                if r.fail_open {
                                    "limiting locally"
                                } else {
                                    "refusing requests"
                                }
                            ),
                        );
                    }
                    if !r.fail_open {
                        ctx.limit_req_status = Some("REJECTED");
                        return Some(special_response(ctx, 503));
                    }
                    l.zone.check(key.as_bytes(), l.burst, l.delay, now, account)
                }
            },
        };
        match decision {
            crate::limit::Decision::Pass => {}
            crate::limit::Decision::Delay { ms, excess } => {
                if ms >= delay_ms {
                    delay_ms = ms;
                    delayed = Some((excess, l.zone.name.clone()));
                }
            }
            crate::limit::Decision::Reject { excess } => {
                account = false;
                rejected.get_or_insert((excess, l.zone.name.clone()));
            }
        }
    }
    let dry = conf.limit_req_dry_run;
    let level = conf.limit_req_log_level;
    let excess_text = |e: u64| format!("{}.{:03}", e / 1000, e % 1000);
    if let Some((excess, zone)) = rejected {
        ctx.log(
            level,
            &format!(
                "limiting requests{}, excess: {} by zone \"{zone}\"",
                if dry { ", dry run" } else { "" },
                excess_text(excess)
            ),
        );
        if dry {
            ctx.limit_req_status = Some("REJECTED_DRY_RUN");
            return None;
        }
        ctx.limit_req_status = Some("REJECTED");
        return Some(special_response(ctx, conf.limit_req_status));
    }
    if let Some((excess, zone)) = delayed {
        // Delays are logged one level more verbose than rejections, as nginx does.
        let delay_level = match level {
            Level::Error => Level::Warn,
            Level::Warn => Level::Notice,
            Level::Notice => Level::Info,
            _ => Level::Debug,
        };
        ctx.log(
            delay_level,
            &format!(
                "delaying request{}, excess: {}, by zone \"{zone}\"",
                if dry { ", dry run" } else { "" },
                excess_text(excess)
            ),
        );
        if dry {
            ctx.limit_req_status = Some("DELAYED_DRY_RUN");
            return None;
        }
        ctx.limit_req_status = Some("DELAYED");
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        return None;
    }
    ctx.limit_req_status = Some("PASSED");
    None
}

/// The preaccess phase's `limit_conn`: slots are held until the request ends.
fn limit_conn(ctx: &mut RequestCtx) -> Option<Response> {
    if ctx.conf.limit_conns.is_empty()
        || ctx.limit_conn_status.is_some()
        || ctx.subrequest_depth > 0
    {
        return None;
    }
    let conf = ctx.conf;
    for l in conf.limit_conns.iter() {
        let key = l.key.eval(ctx);
        if key.is_empty() || key.len() > 255 {
            continue;
        }
        match l.zone.acquire(key.as_bytes(), l.max) {
            Some(slot) => ctx.conn_slots.push(slot),
            None => {
                let dry = conf.limit_conn_dry_run;
                ctx.log(
                    conf.limit_conn_log_level,
                    &format!(
                        "limiting connections{} by zone \"{}\"",
                        if dry { ", dry run," } else { "" },
                        l.zone.name
                    ),
                );
                if dry {
                    ctx.limit_conn_status = Some("REJECTED_DRY_RUN");
                    continue;
                }
                ctx.conn_slots.clear();
                ctx.limit_conn_status = Some("REJECTED");
                return Some(special_response(ctx, conf.limit_conn_status));
            }
        }
    }
    ctx.limit_conn_status.get_or_insert("PASSED");
    None
}

fn access(ctx: &mut RequestCtx) -> Option<Response> {
    let ip = ctx.conn.remote.ip();
    for rule in ctx.conf.access.iter() {
        let hit = match &rule.net {
            None => true,
            Some(net) => cidr_contains(net, ip),
        };
        if hit {
            if rule.allow {
                return None;
            }
            ctx.log(Level::Error, "access forbidden by rule");
            return Some(special_response(ctx, 403));
        }
    }
    None
}

/// Reads and drops the request body, enforcing `client_max_body_size` and
/// `client_body_timeout`.
async fn discard_body(ctx: &mut RequestCtx) -> Option<Response> {
    if let Some(r) = check_content_length(ctx) {
        return Some(r);
    }
    let mut b = ctx.body.take()?;
    // Drop frames as they come: discarding never buffers the body.
    let (max, timeout) = (ctx.conf.client_max_body_size, ctx.conf.client_body_timeout);
    let mut total: u64 = 0;
    loop {
        let (code, msg) = match tokio::time::timeout(timeout, b.frame()).await {
            Err(_) => (
                408,
                "client timed out (110: Connection timed out) while reading client request body"
                    .to_string(),
            ),
            Ok(None) => return None,
            Ok(Some(Err(e))) => (400, format!("client sent invalid request body ({e})")),
            Ok(Some(Ok(frame))) => {
                total += frame.data_ref().map_or(0, |d| d.len() as u64);
                if max == 0 || total <= max {
                    continue;
                }
                (
                    413,
                    format!("client intended to send too large chunked body: {total} bytes"),
                )
            }
        };
        ctx.log(Level::Error, &msg);
        return Some(special_response(ctx, code));
    }
}

/// Request bodies read into memory stop here even with `client_max_body_size 0`.
pub(super) const BODY_MEMORY_CAP: u64 = 64 * 1024 * 1024;

/// Reads a whole request body; on failure the status to answer and the error.log text.
pub async fn collect_body(
    mut b: ReqBody,
    max: u64,
    timeout: std::time::Duration,
) -> Result<Bytes, (u16, String)> {
    let max = if max == 0 {
        BODY_MEMORY_CAP
    } else {
        max.min(BODY_MEMORY_CAP)
    };
    let mut data = bytes::BytesMut::new();
    loop {
        match tokio::time::timeout(timeout, b.frame()).await {
            Err(_) => return Err((
                408,
                "client timed out (110: Connection timed out) while reading client request body"
                    .into(),
            )),
            Ok(None) => return Ok(data.freeze()),
            Ok(Some(Err(e))) => {
                return Err((400, format!("client sent invalid request body ({e})")))
            }
            Ok(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    if max > 0 && (data.len() + d.len()) as u64 > max {
                        return Err((
                            413,
                            format!(
                                "client intended to send too large chunked body: {} bytes",
                                data.len() + d.len()
                            ),
                        ));
                    }
                    data.extend_from_slice(d);
                }
            }
        }
    }
}

/// nginx checks a declared body size against the location's limit as soon as the location
/// is known, before its rewrite directives run.
fn check_content_length(ctx: &mut RequestCtx) -> Option<Response> {
    // Internal redirects (error pages included) have had their body discarded.
    if ctx.internal {
        return None;
    }
    let max = ctx.conf.client_max_body_size;
    let len = ctx
        .header(http::header::CONTENT_LENGTH)?
        .parse::<u64>()
        .ok()?;
    if max > 0 && len > max {
        ctx.log(
            Level::Error,
            &format!("client intended to send too large body: {len} bytes"),
        );
        return Some(special_response(ctx, 413));
    }
    None
}

enum TryFiles {
    Found,
    Code(u16),
    Named(String),
    Redirect(String),
}

fn try_files(ctx: &mut RequestCtx, list: &[Complex]) -> TryFiles {
    let Some((last, candidates)) = list.split_last() else {
        return TryFiles::Code(500);
    };
    for c in candidates {
        let v = c.eval(ctx);
        let path = statics::map_uri(ctx, &v);
        // The argument as written decides between a directory and a file test.
        let ok = if c.raw.ends_with('/') {
            std::fs::metadata(&path).is_ok_and(|m| m.is_dir())
        } else {
            std::fs::metadata(&path).is_ok_and(|m| m.is_file())
        };
        if ok {
            // A directory test matched: nginx continues with the name without its slash,
            // so the static handler redirects "/d" to "/d/".
            ctx.uri = match v.strip_suffix('/') {
                Some(d) if !d.is_empty() && c.raw.ends_with('/') => d.to_string(),
                _ => v,
            };
            return TryFiles::Found;
        }
    }
    let v = last.eval(ctx);
    if let Some(code) = v.strip_prefix('=') {
        return TryFiles::Code(code.parse().unwrap_or(404));
    }
    if let Some(name) = v.strip_prefix('@') {
        return TryFiles::Named(name.to_string());
    }
    TryFiles::Redirect(v)
}

/// `error_page`: an internal redirect, named location or redirect for `code`.
async fn error_page(ctx: &mut RequestCtx, code: u16) -> Option<Response> {
    let pages = ctx.conf.error_pages.clone();
    let page = pages.iter().find(|p| p.codes.contains(&code))?;
    let target = page.target.eval(ctx);
    let status_after = |got: u16| match page.overwrite {
        None => code,
        Some(Some(c)) => c,
        Some(None) => got,
    };
    if target.starts_with('/') || target.starts_with('@') {
        if ctx.method != Method::HEAD {
            ctx.method = Method::GET;
        }
        let start = if let Some(name) = target.strip_prefix('@') {
            match ctx.server.named.get(name) {
                Some(l) => Start::Named(l.clone()),
                None => {
                    ctx.log(
                        Level::Error,
                        &format!("could not find named location \"{target}\""),
                    );
                    return None;
                }
            }
        } else {
            internal_redirect(ctx, &target);
            Start::Find
        };
        ctx.internal = true;
        let mut r = Box::pin(run(ctx, start)).await;
        if r.special && r.status >= 300 && page.overwrite.is_none() {
            // The error page itself failed: that error stands (and may have its own page).
            return Some(r);
        }
        r.status = status_after(r.status);
        r.special = false;
        return Some(r);
    }
    let redirect = match page.overwrite {
        Some(Some(c)) if matches!(c, 301 | 302 | 303 | 307 | 308) => c,
        _ => 302,
    };
    let mut r = special_response(ctx, redirect);
    if let Ok(v) = HeaderValue::from_str(&target) {
        r.headers.insert(LOCATION, v);
    }
    Some(r)
}
