//! `openclaw keys add|revoke|rotate|list`: manages a file key store. The key itself is
//! printed once (by `add` and `rotate`) and stored only as its SHA-256 hash.
//!
//! ```text
//! openclaw keys add ID [--tier T] [--scopes a,b] [--expires RFC3339] [--store file:PATH | -p PREFIX -c CONF]
//! openclaw keys revoke ID [...]
//! openclaw keys rotate ID [...]
//! openclaw keys list [...]
//! ```

use std::path::PathBuf;

const USAGE: &str = "usage: openclaw keys add ID [--tier T] [--scopes a,b] [--expires RFC3339] | revoke ID | rotate ID | list   [--store file:PATH | -p PREFIX -c CONF]\n";

struct Opts {
    cmd: String,
    id: Option<String>,
    tier: Option<String>,
    scopes: Option<Vec<String>>,
    expires: Option<String>,
    store: Option<String>,
    prefix: Option<String>,
    conf: Option<String>,
}

fn parse(argv: &[String]) -> Result<Opts, String> {
    let mut it = argv.iter();
    let cmd = it.next().cloned().ok_or("a command is required")?;
    let mut o = Opts {
        cmd,
        id: None,
        tier: None,
        scopes: None,
        expires: None,
        store: None,
        prefix: None,
        conf: None,
    };
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or(format!("option \"{a}\" requires a value"))
        };
        match a.as_str() {
            "--tier" => o.tier = Some(val()?),
            "--scopes" => {
                o.scopes = Some(
                    val()?
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                )
            }
            "--expires" => {
                let v = val()?;
                chrono::DateTime::parse_from_rfc3339(&v)
                    .map_err(|e| format!("invalid --expires \"{v}\": {e}"))?;
                o.expires = Some(v);
            }
            "--store" => o.store = Some(val()?),
            "-p" => o.prefix = Some(val()?),
            "-c" => o.conf = Some(val()?),
            s if s.starts_with('-') => return Err(format!("invalid option: \"{s}\"")),
            s if o.id.is_none() => o.id = Some(s.to_string()),
            s => return Err(format!("unexpected argument \"{s}\"")),
        }
    }
    Ok(o)
}

/// Where the keys are.
enum Target {
    File(PathBuf),
    Redis(String),
}

/// The store: `--store file:PATH|redis://...`, or the `api_key_store` of the configuration.
fn target(o: &Opts) -> Result<Target, String> {
    if let Some(s) = &o.store {
        if s.starts_with("redis://") {
            return Ok(Target::Redis(s.clone()));
        }
        return s
            .strip_prefix("file:")
            .map(|p| Target::File(PathBuf::from(p)))
            .ok_or_else(|| format!("unsupported key store \"{s}\""));
    }
    let mut flags = vec![];
    if let Some(p) = &o.prefix {
        flags.extend(["-p".to_string(), p.clone()]);
    }
    if let Some(c) = &o.conf {
        flags.extend(["-c".to_string(), c.clone()]);
    }
    let args = super::Args::parse(&flags)?;
    let opts = crate::config::LoadOptions {
        prefix: args.prefix.clone(),
        conf_file: args.conf.clone(),
        globals: None,
        error_log: None,
    };
    let cfg = crate::config::load(&opts).map_err(|e| format!("[emerg] {e}"))?;
    let store = cfg
        .http
        .as_ref()
        .and_then(|h| h.keys.as_ref())
        .ok_or_else(|| "the configuration has no \"api_key_store\"".to_string())?
        .store
        .clone();
    Ok(match &*store {
        crate::keys::Store::File(f) => Target::File(f.path.clone()),
        crate::keys::Store::Redis(r) => Target::Redis(r.url.clone()),
    })
}

fn read(path: &PathBuf, create: bool) -> Result<serde_json::Value, String> {
    match std::fs::read_to_string(path) {
        Ok(t) => {
            crate::keys::parse_file(&t).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str(&t).map_err(|e| e.to_string())
        }
        Err(e) if create && e.kind() == std::io::ErrorKind::NotFound => {
            Ok(serde_json::json!({ "keys": [] }))
        }
        Err(e) => Err(format!("cannot read \"{}\": {e}", path.display())),
    }
}

/// Writes the store atomically (a reader sees the old file or the new one).
fn write(path: &PathBuf, v: &serde_json::Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())? + "\n";
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write \"{}\": {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace \"{}\": {e}", path.display()))
}

pub fn main(argv: &[String]) -> i32 {
    match run(argv) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("openclaw: {e}");
            if e.contains("command") || e.contains("option") || e.contains("argument") {
                eprint!("{USAGE}");
            }
            1
        }
    }
}

fn run(argv: &[String]) -> Result<(), String> {
    let o = parse(argv)?;
    let path = match target(&o)? {
        Target::File(p) => p,
        Target::Redis(url) => return run_redis(&o, &url),
    };
    let need_id = || {
        o.id.clone()
            .ok_or_else(|| format!("\"{}\" needs a key id argument", o.cmd))
    };
    match o.cmd.as_str() {
        "list" => {
            let v = read(&path, false)?;
            println!(
                "{:<20} {:<10} {:<20} {:<8} EXPIRES",
                "ID", "TIER", "SCOPES", "STATUS"
            );
            for k in v["keys"].as_array().into_iter().flatten() {
                let s = |n: &str| k[n].as_str().unwrap_or("-").to_string();
                let scopes: Vec<&str> = k["scopes"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                    .unwrap_or_default();
                let scopes = if scopes.is_empty() {
                    "-".to_string()
                } else {
                    scopes.join(",")
                };
                let status = k["status"].as_str().unwrap_or("active");
                println!(
                    "{:<20} {:<10} {:<20} {:<8} {}",
                    s("id"),
                    s("tier"),
                    scopes,
                    status,
                    s("expires_at")
                );
            }
            Ok(())
        }
        "add" => {
            let id = need_id()?;
            let mut v = read(&path, true)?;
            let list = v["keys"].as_array_mut().ok_or("no \"keys\" array")?;
            if list.iter().any(|k| k["id"] == id.as_str()) {
                return Err(format!("key \"{id}\" already exists (use rotate)"));
            }
            let key = crate::keys::generate();
            let mut rec = serde_json::json!({ "id": id, "hash": crate::keys::hash_of(&key), "status": "active" });
            if let Some(t) = &o.tier {
                rec["tier"] = t.clone().into();
            }
            if let Some(s) = &o.scopes {
                rec["scopes"] = s.clone().into();
            }
            if let Some(e) = &o.expires {
                rec["expires_at"] = e.clone().into();
            }
            list.push(rec);
            write(&path, &v)?;
            println!("{key}");
            Ok(())
        }
        "revoke" | "rotate" => {
            let id = need_id()?;
            let mut v = read(&path, false)?;
            let list = v["keys"].as_array_mut().ok_or("no \"keys\" array")?;
            let rec = list
                .iter_mut()
                .find(|k| k["id"] == id.as_str())
                .ok_or_else(|| format!("no key \"{id}\""))?;
            let key = if o.cmd == "rotate" {
                let k = crate::keys::generate();
                rec["hash"] = crate::keys::hash_of(&k).into();
                rec["status"] = "active".into();
                Some(k)
            } else {
                rec["status"] = "revoked".into();
                None
            };
            write(&path, &v)?;
            if let Some(k) = key {
                println!("{k}");
            }
            Ok(())
        }
        c => Err(format!("unknown command \"{c}\"")),
    }
}

/// The same commands on a Redis store (`openclaw:key:<hash>` hashes).
fn run_redis(o: &Opts, url: &str) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("cannot reach {url}: {e}"))?;
        // Every stored key: (hash hex, fields).
        let mut all: Vec<(String, std::collections::HashMap<String, String>)> = vec![];
        let names: Vec<String> = redis::cmd("KEYS")
            .arg("openclaw:key:*")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        for n in names {
            let f: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
                .arg(&n)
                .query_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            all.push((n.trim_start_matches("openclaw:key:").to_string(), f));
        }
        let find = |id: &str| {
            all.iter()
                .find(|(_, f)| f.get("id").map(String::as_str) == Some(id))
        };
        let need_id = || {
            o.id.clone()
                .ok_or_else(|| format!("\"{}\" needs a key id argument", o.cmd))
        };
        match o.cmd.as_str() {
            "list" => {
                println!(
                    "{:<20} {:<10} {:<20} {:<8} EXPIRES",
                    "ID", "TIER", "SCOPES", "STATUS"
                );
                for (_, f) in &all {
                    let g = |n: &str| {
                        f.get(n)
                            .filter(|v| !v.is_empty())
                            .cloned()
                            .unwrap_or("-".into())
                    };
                    let status = f.get("status").cloned().unwrap_or("active".into());
                    println!(
                        "{:<20} {:<10} {:<20} {:<8} {}",
                        g("id"),
                        g("tier"),
                        g("scopes"),
                        status,
                        g("expires_at")
                    );
                }
                Ok(())
            }
            "add" | "rotate" => {
                let id = need_id()?;
                let existing = find(&id).map(|(h, f)| (h.clone(), f.clone()));
                if o.cmd == "add" && existing.is_some() {
                    return Err(format!("key \"{id}\" already exists (use rotate)"));
                }
                if o.cmd == "rotate" && existing.is_none() {
                    return Err(format!("no key \"{id}\""));
                }
                let key = crate::keys::generate();
                let hash = crate::keys::hash_of(&key)["sha256:".len()..].to_string();
                let old = existing.as_ref().map(|(h, _)| h.as_str());
                let prev = existing
                    .as_ref()
                    .map(|(_, f)| f.clone())
                    .unwrap_or_default();
                let pick = |new: &Option<String>, field: &str| {
                    new.clone()
                        .or_else(|| prev.get(field).cloned())
                        .unwrap_or_default()
                };
                let fields = [
                    ("id", id.clone()),
                    ("tier", pick(&o.tier, "tier")),
                    (
                        "scopes",
                        o.scopes
                            .as_ref()
                            .map(|s| s.join(","))
                            .unwrap_or_else(|| prev.get("scopes").cloned().unwrap_or_default()),
                    ),
                    ("status", "active".to_string()),
                    ("expires_at", pick(&o.expires, "expires_at")),
                ];
                crate::keys::redis_store(url, &hash, &fields, old).await?;
                println!("{key}");
                Ok(())
            }
            "revoke" => {
                let id = need_id()?;
                let (hash, _) = find(&id).ok_or_else(|| format!("no key \"{id}\""))?;
                crate::keys::redis_store(url, hash, &[("status", "revoked".to_string())], None)
                    .await
            }
            c => Err(format!("unknown command \"{c}\"")),
        }
    })
}
