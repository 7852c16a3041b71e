//! `ngx.location.capture` and `capture_multi`: subrequests through the same pipeline
//! (locations, rewrite, Lua, static files, `internal` locations reachable), with their
//! response captured as `{status, header, body, truncated}`.

use super::api::{check_phase, rt, LResult};
use super::req::with_req;
use crate::pipeline::{self, Phase, PhaseSet, RequestCtx};
use ahash::AHashMap as HashMap;
use bytes::Bytes;
use http::Method;
use mlua::{Lua, Table, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

/// Captured bodies stop here.
const MAX_BODY: u64 = 64 * 1024 * 1024;

const CAPTURE_PHASES: PhaseSet = PhaseSet::of(&[Phase::Rewrite, Phase::Access, Phase::Content]);

struct SubSpec {
    uri: String,
    args: Option<String>,
    method: Method,
    body: Option<Bytes>,
    /// `vars`: variables set in the subrequest.
    vars: Vec<(String, String)>,
    copy_all_vars: bool,
    share_all_vars: bool,
    /// `ctx`: the subrequest's `ngx.ctx`.
    ctx: Option<mlua::RegistryKey>,
    /// `always_forward_body`, or a PUT/POST: the parent's body goes along.
    forward_body: bool,
}

fn spec(lua: &Lua, uri: String, opts: Option<Table>) -> LResult<SubSpec> {
    let (path, mut args) = match uri.split_once('?') {
        Some((p, a)) => (p.to_string(), Some(a.to_string())),
        None => (uri.clone(), None),
    };
    let mut method = Method::GET;
    let mut body = None;
    let mut vars = vec![];
    let (mut copy_all_vars, mut share_all_vars, mut always) = (false, false, false);
    let mut ctx = None;
    if let Some(o) = opts {
        if let Some(m) = o.get::<Option<i64>>("method")? {
            method = super::ngx_req::method_of(m)?;
        }
        match o.get::<Value>("args")? {
            Value::Nil => {}
            Value::String(s) => args = Some(s.to_str()?.to_string()),
            t @ Value::Table(_) => {
                let ngx: Table = lua.globals().get("ngx")?;
                let enc: mlua::Function = ngx.get("encode_args")?;
                args = Some(enc.call::<String>(t)?);
            }
            other => {
                return Err(rt(format!(
                    "Bad args option value type: {}",
                    other.type_name()
                )))
            }
        }
        if let Some(b) = o.get::<Option<mlua::LuaString>>("body")? {
            body = Some(Bytes::from(b.as_bytes().to_vec()));
        }
        match o.get::<Value>("vars")? {
            Value::Nil => {}
            Value::Table(t) => {
                for pair in t.pairs::<String, Value>() {
                    let (k, v) = pair?;
                    let v = match v {
                        Value::String(s) => s.to_str()?.to_string(),
                        Value::Integer(i) => i.to_string(),
                        Value::Number(n) => super::api::lua_number(n),
                        other => {
                            return Err(rt(format!(
                                "attempt to use bad variable value type {}",
                                other.type_name()
                            )))
                        }
                    };
                    vars.push((k, v));
                }
            }
            other => {
                return Err(rt(format!(
                    "Bad vars option value type: {}",
                    other.type_name()
                )))
            }
        }
        copy_all_vars = o.get::<Option<bool>>("copy_all_vars")?.unwrap_or(false);
        share_all_vars = o.get::<Option<bool>>("share_all_vars")?.unwrap_or(false);
        always = o
            .get::<Option<bool>>("always_forward_body")?
            .unwrap_or(false);
        match o.get::<Value>("ctx")? {
            Value::Nil => {}
            t @ Value::Table(_) => ctx = Some(lua.create_registry_value(t)?),
            other => {
                return Err(rt(format!(
                    "Bad ctx option value type {}, expected a Lua table",
                    other.type_name()
                )))
            }
        }
    }
    let forward_body = always || method == Method::POST || method == Method::PUT;
    Ok(SubSpec {
        uri: path,
        args: args.filter(|a| !a.is_empty()),
        method,
        body,
        vars,
        copy_all_vars,
        share_all_vars,
        ctx,
        forward_body,
    })
}

/// A subrequest made and ready to run.
struct Prepared {
    sub: Box<RequestCtx>,
    /// `share_all_vars`: the variables it started with, to tell its own writes apart.
    shared_from: Option<HashMap<Arc<str>, String>>,
}

/// Makes the subrequest of `s` from the current request (variables, `ngx.ctx`, body).
fn prepare(mut s: SubSpec) -> LResult<Prepared> {
    let ctx_key = s.ctx.take();
    with_req(|st, ctx: &mut RequestCtx| {
        check_phase(st, CAPTURE_PHASES)?;
        let mut sub = pipeline::subrequest(
            ctx,
            s.method.clone(),
            &s.uri,
            s.args.clone(),
            s.body.clone(),
            s.forward_body,
        )
        .map_err(rt)?;
        if s.copy_all_vars || s.share_all_vars {
            sub.user_vars = ctx.user_vars.clone();
        }
        for (k, v) in &s.vars {
            if !ctx.declares(k) {
                return Err(rt(format!(
                    "variable \"{k}\" cannot be assigned a value (maybe you forgot to define it first?)"
                )));
            }
            sub.user_vars.insert(k.as_str().into(), v.clone());
        }
        if let Some(key) = ctx_key {
            super::vm::set_sub_ctx_table(ctx, &mut sub, key);
        }
        let shared_from = s.share_all_vars.then(|| sub.user_vars.clone());
        Ok(Prepared { sub, shared_from })
    })
}

/// Runs a prepared subrequest to completion: `(status, headers, body)`.
async fn run_sub(p: Prepared) -> LResult<(u16, crate::pipeline::HeaderList, Bytes)> {
    let Prepared {
        mut sub,
        shared_from,
    } = p;
    let resp = Box::pin(pipeline::process_internal(&mut sub)).await;
    if let Some(before) = shared_from {
        // Sharing is copying back what the subrequest changed (set or unset), so that
        // siblings of capture_multi sharing too all land, whichever ends last.
        with_req(|_, ctx| {
            for (k, v) in &sub.user_vars {
                if before.get(k) != Some(v) {
                    ctx.user_vars.insert(k.clone(), v.clone());
                }
            }
            for k in before.keys() {
                if !sub.user_vars.contains_key(k) {
                    ctx.user_vars.remove(k);
                }
            }
            Ok(())
        })?;
    }
    let body = resp.body.into_bytes(MAX_BODY).await;
    let status = if resp.status == 0 { 200 } else { resp.status };
    Ok((status, resp.headers, body))
}

/// Drives `futs` together on this task until all are done; outputs in input order. Each
/// wake polls every unfinished one, which is cheap for the handful capture_multi gets.
async fn join_all<F: Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *o = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

fn result_table(
    lua: &Lua,
    status: u16,
    headers: &crate::pipeline::HeaderList,
    body: &[u8],
) -> LResult<Table> {
    let t = lua.create_table()?;
    t.set("status", status)?;
    let h = lua.create_table()?;
    for (k, v) in headers.iter() {
        // nginx's captured headers use canonical capitalisation ("Content-Type").
        let name: String = k
            .as_str()
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                match c.next() {
                    Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join("-");
        let val = Value::String(lua.create_string(v.as_bytes())?);
        match h.raw_get::<Value>(name.as_str())? {
            Value::Nil => h.raw_set(name, val)?,
            Value::Table(arr) => arr.raw_push(val)?,
            prev => {
                let arr = lua.create_table()?;
                arr.raw_push(prev)?;
                arr.raw_push(val)?;
                h.raw_set(name, arr)?;
            }
        }
    }
    t.set("header", h)?;
    t.set("body", lua.create_string(body)?)?;
    t.set("truncated", false)?;
    Ok(t)
}

/// capture_multi's argument, `{ {uri, opts?}, ... }`, checked with lua-nginx-module's
/// errors (which count the subrequests from 0).
fn multi_specs(lua: &Lua, args: mlua::MultiValue) -> LResult<Vec<SubSpec>> {
    if args.len() != 1 {
        return Err(rt(format!(
            "only one argument is expected, but got {}",
            args.len()
        )));
    }
    let reqs = match args.into_iter().next() {
        Some(Value::Table(t)) => t,
        other => {
            let got = other.as_ref().map_or("no value", |v| v.type_name());
            return Err(rt(format!(
                "bad argument #1 to 'capture_multi' (table expected, got {got})"
            )));
        }
    };
    let n = reqs.raw_len();
    if n == 0 {
        return Err(rt("at least one subrequest should be specified"));
    }
    let mut specs = Vec::with_capacity(n);
    for i in 0..n {
        let q = match reqs.raw_get::<Value>(i + 1)? {
            Value::Nil => return Err(rt("only array-like tables are allowed")),
            Value::Table(q) => q,
            other => {
                return Err(rt(format!(
                    "the query argument {i} is not a table, but a {}",
                    other.type_name()
                )))
            }
        };
        let nargs = q.raw_len();
        if nargs != 1 && nargs != 2 {
            return Err(rt(format!(
                "query argument {i} expecting one or two arguments"
            )));
        }
        let opts = match q.raw_get::<Value>(2)? {
            Value::Nil => None,
            Value::Table(o) => Some(o),
            other => {
                return Err(rt(format!(
                    "expecting table as the 2nd argument for subrequest {i}, but got {}",
                    other.type_name()
                )))
            }
        };
        let uri: String = q.raw_get(1)?;
        specs.push(spec(lua, uri, opts)?);
    }
    Ok(specs)
}

pub fn install(lua: &Lua, ngx: &Table) -> LResult<()> {
    let location = lua.create_table()?;
    location.set(
        "capture",
        lua.create_async_function(|lua, (uri, opts): (String, Option<Table>)| async move {
            let p = prepare(spec(&lua, uri, opts)?)?;
            let (status, headers, body) = run_sub(p).await?;
            result_table(&lua, status, &headers, &body)
        })?,
    )?;
    location.set(
        "capture_multi",
        lua.create_async_function(|lua, args: mlua::MultiValue| async move {
            let specs = multi_specs(&lua, args)?;
            // All are made first (a bad one raises before any runs), then run together,
            // as nginx runs them: the time taken is the slowest one's, not the sum.
            let subs = specs
                .into_iter()
                .map(prepare)
                .collect::<LResult<Vec<_>>>()?;
            let mut out = vec![];
            for res in join_all(subs.into_iter().map(run_sub).collect()).await {
                let (status, headers, body) = res?;
                out.push(Value::Table(result_table(&lua, status, &headers, &body)?));
            }
            Ok(mlua::MultiValue::from_iter(out))
        })?,
    )?;
    ngx.set("location", location)?;
    Ok(())
}
