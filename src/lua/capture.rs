//! `ngx.location.capture` and `capture_multi`: subrequests through the same pipeline
//! (locations, rewrite, Lua, static files, `internal` locations reachable), with their
//! response captured as `{status, header, body, truncated}`.

use super::api::{check_phase, rt, LResult};
use super::req::with_req;
use crate::pipeline::{self, Phase, PhaseSet, RequestCtx};
use bytes::Bytes;
use http::Method;
use mlua::{Lua, Table, Value};

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

/// Runs one subrequest to completion.
async fn run_sub(mut s: SubSpec) -> LResult<(u16, http::HeaderMap, Bytes)> {
    let ctx_key = s.ctx.take();
    let mut sub = with_req(|st, ctx: &mut RequestCtx| {
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
            let declared = ctx
                .gen
                .config
                .http
                .as_ref()
                .is_some_and(|h| h.declared_vars.contains(k.as_str()));
            if !declared {
                return Err(rt(format!(
                    "variable \"{k}\" cannot be assigned a value (maybe you forgot to define it first?)"
                )));
            }
            sub.user_vars.insert(k.as_str().into(), v.clone());
        }
        if let Some(key) = ctx_key {
            super::vm::set_sub_ctx_table(ctx, &mut sub, key);
        }
        Ok(sub)
    })?;
    let resp = Box::pin(pipeline::process_internal(&mut sub)).await;
    if s.share_all_vars {
        // The subrequest ran while the parent waited: sharing is copying back.
        let vars = std::mem::take(&mut sub.user_vars);
        with_req(|_, ctx| {
            ctx.user_vars = vars;
            Ok(())
        })?;
    }
    let body = resp.body.into_bytes(MAX_BODY).await;
    let status = if resp.status == 0 { 200 } else { resp.status };
    Ok((status, resp.headers, body))
}

fn result_table(lua: &Lua, status: u16, headers: &http::HeaderMap, body: &[u8]) -> LResult<Table> {
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

pub fn install(lua: &Lua, ngx: &Table) -> LResult<()> {
    let location = lua.create_table()?;
    location.set(
        "capture",
        lua.create_async_function(|lua, (uri, opts): (String, Option<Table>)| async move {
            let s = spec(&lua, uri, opts)?;
            let (status, headers, body) = run_sub(s).await?;
            result_table(&lua, status, &headers, &body)
        })?,
    )?;
    location.set(
        "capture_multi",
        lua.create_async_function(|lua, reqs: Table| async move {
            // Run one after another; results keep the order of the requests.
            let mut specs = vec![];
            for r in reqs.sequence_values::<Table>() {
                let r = r?;
                let uri: String = r.get(1)?;
                let opts: Option<Table> = r.get(2)?;
                specs.push(spec(&lua, uri, opts)?);
            }
            let mut out = vec![];
            for s in specs {
                let (status, headers, body) = run_sub(s).await?;
                out.push(Value::Table(result_table(&lua, status, &headers, &body)?));
            }
            Ok(mlua::MultiValue::from_iter(out))
        })?,
    )?;
    ngx.set("location", location)?;
    Ok(())
}
