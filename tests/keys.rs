//! API keys end to end: the `openclaw keys` CLI writes the store, the gateway checks keys
//! from it (reloading the file when it changes), scopes, tier limits, Lua lookups.

mod common;

use common::{client, Gateway};
use std::process::Command;
use std::time::{Duration, Instant};

fn keys_cli(store: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(common::bin())
        .arg("keys")
        .args(args)
        .arg("--store")
        .arg(format!("file:{}", store.display()))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn gateway(store: &std::path::Path) -> Gateway {
    let http = format!(
        "api_key_store file:{};\napi_key_tier free rate=1r/m burst=2;\napi_key_tier pro rate=100r/s burst=100;",
        store.display()
    );
    let server = r#"
location /v1/ {
    api_key_check_header X-API-KEY;
    api_key_scope read;
    api_key_limit_rate tier;
    content_by_lua_block { ngx.say("ok ", ngx.var.api_key_id, " ", ngx.var.api_key_tier) }
}
location /write {
    api_key_check_arg api_key;
    api_key_scope write;
    content_by_lua_block { ngx.say("written") }
}
location /lookup {
    content_by_lua_block {
        local rec, err = openclaw.keys.lookup(ngx.var.arg_k)
        if not rec then return ngx.say("nil ", err) end
        ngx.say(rec.id, " ", rec.tier, " ", table.concat(rec.scopes, ","))
    }
}
"#;
    Gateway::start_full(&common::wrap("", &http, server), &[]).unwrap()
}

#[test]
fn keys_from_the_cli_are_checked_with_scopes_and_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("keys.json");
    let (ok, key, err) = keys_cli(
        &store,
        &["add", "acme", "--tier", "pro", "--scopes", "read,write"],
    );
    assert!(ok, "{err}");
    assert!(key.starts_with("ock_"));
    let stored = std::fs::read_to_string(&store).unwrap();
    assert!(!stored.contains(&key), "only the hash is stored");
    let (_, reader, _) = keys_cli(
        &store,
        &["add", "reader", "--tier", "pro", "--scopes", "read"],
    );
    let gw = gateway(&store);

    let r = client::get(gw.addr(), "/v1/x", &[("X-API-KEY", &key)]);
    assert_eq!((r.status, r.text().as_str()), (200, "ok acme pro\n"));
    assert!(r.header("x-ratelimit-limit").is_some());

    let r = client::get(gw.addr(), "/v1/x", &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (401, "{\"error\":\"missing API key\"}\n")
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = client::get(gw.addr(), "/v1/x", &[("X-API-KEY", "ock_wrong")]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (403, "{\"error\":\"invalid API key\"}\n")
    );

    // Scopes: the reader may read, not write (key in a query argument here).
    assert_eq!(
        client::get(gw.addr(), "/v1/x", &[("X-API-KEY", &reader)]).status,
        200
    );
    let r = client::get(gw.addr(), &format!("/write?api_key={reader}"), &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (403, "{\"error\":\"insufficient scope\"}\n")
    );
    assert_eq!(
        client::get(gw.addr(), &format!("/write?api_key={key}"), &[]).status,
        200
    );

    // Lua sees the same store.
    let r = client::get(gw.addr(), &format!("/lookup?k={key}"), &[]);
    assert_eq!(r.text(), "acme pro read,write\n");

    // Revoked through the CLI: refused once the gateway sees the file change.
    assert!(keys_cli(&store, &["revoke", "acme"]).0);
    let until = |want: u16, k: &str| {
        let start = Instant::now();
        loop {
            let s = client::get(gw.addr(), "/v1/x", &[("X-API-KEY", k)]).status;
            if s == want {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "never got {want}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    until(403, &key);
    assert_eq!(
        client::get(gw.addr(), &format!("/lookup?k={key}"), &[]).text(),
        "nil revoked\n"
    );
    // Rotated: a new key works, the old one stays refused.
    let (ok, fresh, _) = keys_cli(&store, &["rotate", "acme"]);
    assert!(ok && fresh != key);
    until(200, &fresh);
    assert_eq!(
        client::get(gw.addr(), "/v1/x", &[("X-API-KEY", &key)]).status,
        403
    );
    let (_, list, _) = keys_cli(&store, &["list"]);
    assert!(list.contains("acme") && list.contains("reader") && !list.contains(&fresh));
}

#[test]
fn tier_limits_answer_429_with_rate_limit_headers() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("keys.json");
    let (_, key, _) = keys_cli(
        &store,
        &["add", "tiny", "--tier", "free", "--scopes", "read"],
    );
    let gw = gateway(&store);
    // free: 1r/m with burst 2 -> three requests at once, then 429.
    let mut remaining = vec![];
    for _ in 0..3 {
        let r = client::get(gw.addr(), "/v1/x", &[("X-API-KEY", &key)]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
        remaining.push(r.header("x-ratelimit-remaining").unwrap_or("").to_string());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let r = client::get(gw.addr(), "/v1/x", &[("X-API-KEY", &key)]);
    assert_eq!(r.status, 429);
    assert_eq!(r.text(), "{\"error\":\"rate limit exceeded\"}\n");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    // One request a minute (nginx's integer arithmetic: 16 milli-requests a second).
    assert!((55..=64).contains(&retry), "{retry}");
    assert!(r.header("x-ratelimit-reset").is_some());
    assert!(gw.error_log().contains("limiting requests by API key"));
}

#[test]
fn expired_keys_and_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("keys.json");
    let (_, key, _) = keys_cli(
        &store,
        &[
            "add",
            "old",
            "--scopes",
            "read",
            "--expires",
            "2001-01-01T00:00:00Z",
        ],
    );
    let gw = gateway(&store);
    assert_eq!(
        client::get(gw.addr(), "/v1/x", &[("X-API-KEY", &key)]).status,
        403
    );
    assert_eq!(
        client::get(gw.addr(), &format!("/lookup?k={key}"), &[]).text(),
        "nil expired\n"
    );
    // A check without a store is a config error; so is a broken store file.
    let e = Gateway::start_full(
        &common::wrap("", "", "location / { api_key_check_header X-K; }"),
        &[],
    )
    .err()
    .unwrap();
    assert!(
        e.contains("\"api_key_check_header\" needs an \"api_key_store\""),
        "{e}"
    );
    std::fs::write(&store, "{ broken").unwrap();
    let e = Gateway::start_full(
        &common::wrap("", &format!("api_key_store file:{};", store.display()), ""),
        &[],
    )
    .err()
    .unwrap();
    assert!(e.contains("invalid JSON"), "{e}");
    let (ok, _, err) = keys_cli(&store, &["list"]);
    assert!(!ok && err.contains("invalid JSON"));
}
