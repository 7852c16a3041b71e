//! `:phases PATH` in the REPL: which server and location a request would reach and what
//! runs for it, phase by phase, read from the loaded configuration (nothing is executed).

use crate::config::{Http, LocConf, LocKind, Location, Op, ProxyTarget};
use crate::pipeline::Generation;

/// Lines describing the handlers a request for `host` + `path` would meet.
pub fn describe(gen: &Generation, host: Option<&str>, path: &str) -> Result<Vec<String>, String> {
    let (http, socket) = super::inproc::tool_socket(gen)?;
    let uri = path.split('?').next().unwrap_or(path);
    let (server, _) = crate::router::select_server(http, socket, host);
    let mut out = vec![format!(
        "server: {} (listen {})",
        if server.first_name.is_empty() {
            "\"\"".to_string()
        } else {
            server.first_name.clone()
        },
        http.sockets[socket].addr
    )];
    let server_ops = count_ops(&server.script);
    let Some((loc, _)) = crate::router::find_location(server, uri) else {
        out.push("location: none matches (404 from the server's settings)".into());
        if server_ops > 0 {
            out.push(format!(
                "rewrite:       server rewrite module ({server_ops} directives)"
            ));
        }
        return Ok(out);
    };
    out.push(format!("location: {}", location_name(loc)));
    let conf = &loc.conf;
    let mut rewrite = vec![];
    if server_ops > 0 {
        rewrite.push(format!("server rewrite module ({server_ops} directives)"));
    }
    let loc_ops = count_ops(&loc.script);
    if loc_ops > 0 {
        rewrite.push(format!("location rewrite module ({loc_ops} directives)"));
    }
    for op in loc.script.iter().chain(server.script.iter()) {
        if let Op::SetLua { name, chunk, .. } = op {
            rewrite.push(format!("set ${name} by {}", chunk.name));
        }
    }
    if let Some(c) = &conf.lua.rewrite {
        rewrite.push(c.name.clone());
    }
    push(&mut out, "rewrite", rewrite);
    push(&mut out, "access", access(conf));
    push(&mut out, "content", content(http, conf));
    let mut headers = vec![];
    if !conf.add_headers.is_empty() {
        headers.push(format!("add_header ({})", conf.add_headers.len()));
    }
    if let Some(c) = &conf.lua.header_filter {
        headers.push(c.name.clone());
    }
    push(&mut out, "header_filter", headers);
    let mut body = vec![];
    if let Some(c) = &conf.lua.body_filter {
        body.push(c.name.clone());
    }
    for (name, codec) in [
        ("gzip", &conf.compress.gzip),
        ("brotli", &conf.compress.brotli),
        ("zstd", &conf.compress.zstd),
    ] {
        if codec.on {
            body.push(name.to_string());
        }
    }
    push(&mut out, "body_filter", body);
    let mut log = vec![];
    if !conf.access_logs.is_empty() {
        log.push(format!("access_log ({})", conf.access_logs.len()));
    }
    if let Some(c) = &conf.lua.log {
        log.push(c.name.clone());
    }
    push(&mut out, "log", log);
    Ok(out)
}

fn push(out: &mut Vec<String>, phase: &str, items: Vec<String>) {
    let text = if items.is_empty() {
        "-".to_string()
    } else {
        items.join(", ")
    };
    out.push(format!("{:<14} {text}", format!("{phase}:")));
}

fn count_ops(ops: &[Op]) -> usize {
    ops.iter()
        .filter(|o| !matches!(o, Op::SetLua { .. }))
        .count()
}

fn location_name(loc: &Location) -> String {
    match &loc.kind {
        LocKind::Exact(p) => format!("= {p}"),
        LocKind::Prefix { prefix, noregex } => {
            format!("{}{prefix}", if *noregex { "^~ " } else { "" })
        }
        LocKind::Regex(re) => format!("~ {}", re.pattern),
        LocKind::Named(n) => format!("@{n}"),
    }
}

fn access(conf: &LocConf) -> Vec<String> {
    let mut v = vec![];
    if !conf.access.is_empty() {
        v.push(format!("allow/deny ({} rules)", conf.access.len()));
    }
    for l in conf.limit_reqs.iter() {
        v.push(format!(
            "limit_req zone={}{}",
            l.zone.name,
            if l.redis.is_some() { " (redis)" } else { "" }
        ));
    }
    for l in conf.limit_conns.iter() {
        v.push(format!("limit_conn {} {}", l.zone.name, l.max));
    }
    if conf.keys.source.is_some() {
        v.push("api_key".into());
    }
    if let Some(c) = &conf.lua.access {
        v.push(c.name.clone());
    }
    v
}

fn content(http: &Http, conf: &LocConf) -> Vec<String> {
    if let Some(c) = &conf.lua.content {
        return vec![c.name.clone()];
    }
    if let Some(p) = &conf.proxy_pass {
        let mut s = format!("proxy_pass {}", p.url);
        if let ProxyTarget::Group(def) = &p.target {
            if let Some(b) = http
                .upstreams
                .get(&p.host)
                .and_then(|d| d.balancer.as_ref())
            {
                s.push_str(&format!(" ({})", b.name));
            } else if def.balancer.is_some() {
                s.push_str(" (balancer_by_lua)");
            }
        }
        if conf.proxy.cache.zone.is_some() {
            s.push_str(", proxy_cache");
        }
        return vec![s];
    }
    vec![format!("static files, root {}", conf.root.path.raw)]
}
