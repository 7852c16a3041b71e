//! Limits shared across nodes through a real `redis-server` started by the test on a free
//! loopback port: one limit for two gateways, Redis down with `redis_fail=open|closed`.

mod common;

use common::{client, Gateway};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A redis-server on 127.0.0.1, stopped on drop.
struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let start = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis {
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gateway(zone_params: &str) -> Gateway {
    let http = format!("limit_req_zone $binary_remote_addr zone=r:1m {zone_params};");
    Gateway::start_full(
        &common::wrap("", &http, "location / { limit_req zone=r; }"),
        &[("html/index.html".into(), "ok\n".into())],
    )
    .unwrap()
}

#[test]
fn two_gateways_share_one_limit() {
    let redis = Redis::start();
    let params = format!("rate=1r/m redis={}", redis.url());
    let a = gateway(&params);
    let b = gateway(&params);
    assert_eq!(client::get(a.addr(), "/", &[]).status, 200);
    // The other node sees the same bucket.
    assert_eq!(client::get(b.addr(), "/", &[]).status, 503);
    assert_eq!(client::get(a.addr(), "/", &[]).status, 503);
    assert!(b
        .error_log()
        .contains("limiting requests, excess: 1.000 by zone \"r\""));
}

#[test]
fn shared_limit_is_accurate_across_two_gateways() {
    let redis = Redis::start();
    let params = format!("rate=20r/s redis={}", redis.url());
    let gws = [gateway(&params), gateway(&params)];
    let addrs: Vec<SocketAddr> = gws.iter().map(|g| g.addr()).collect();
    let run = Duration::from_secs(2);
    let start = Instant::now();
    let handles: Vec<_> = addrs
        .into_iter()
        .map(|addr| {
            std::thread::spawn(move || {
                let mut ok = 0;
                while start.elapsed() < run {
                    if client::get(addr, "/", &[]).status == 200 {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    let allowed: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let secs = start.elapsed().as_secs_f64();
    // 20 a second over the run, plus the first request of an empty bucket.
    let exact = 20.0 * secs + 1.0;
    let off = (allowed as f64 - exact).abs() / exact;
    assert!(off <= 0.10, "allowed {allowed}, exact {exact:.1}");
}

#[test]
fn redis_down_falls_back_to_the_local_limit_or_refuses() {
    let dead_port = common::upstream::dead_port();
    let dead = dead_port.addr;
    let open = gateway(&format!("rate=1r/m redis=redis://{dead}/0 redis_fail=open"));
    assert_eq!(client::get(open.addr(), "/", &[]).status, 200);
    assert_eq!(
        client::get(open.addr(), "/", &[]).status,
        503,
        "the local limiter still limits"
    );
    assert!(open.wait_log("redis redis://", Duration::from_secs(5)));
    // Logged once per interval, not per request.
    assert_eq!(open.error_log().matches("failed (").count(), 1);

    let closed = gateway(&format!(
        "rate=100r/s redis=redis://{dead}/0 redis_fail=closed"
    ));
    assert_eq!(client::get(closed.addr(), "/", &[]).status, 503);
    assert!(closed.wait_log("refusing requests", Duration::from_secs(5)));

    // A Redis that never answers: the request ends after redis_timeout, not later.
    let hole = common::upstream::Blackhole::start();
    let slow = gateway(&format!(
        "rate=100r/s redis=redis://{}/0 redis_fail=closed redis_timeout=300ms",
        hole.addr
    ));
    let t = Instant::now();
    assert_eq!(client::get(slow.addr(), "/", &[]).status, 503);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(slow.wait_log("refusing requests", Duration::from_secs(5)));
    let log = slow.error_log();
    assert!(log.to_ascii_lowercase().contains("timed out"), "{log}");
}

fn keys_cli(url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(common::bin())
        .arg("keys")
        .args(args)
        .args(["--store", url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (
        out.status.success(),
        text + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn api_keys_in_redis_with_a_lookup_cache() {
    let mut redis = Redis::start();
    let url = redis.url();
    let (ok, key) = keys_cli(&url, &["add", "acme", "--tier", "pro", "--scopes", "read"]);
    assert!(ok, "{key}");
    let http = format!(
        "api_key_store {url};\napi_key_cache_ttl 200ms;\napi_key_tier pro rate=100r/s burst=100;"
    );
    let server = r#"
location / {
    api_key_check_header X-API-KEY;
    api_key_scope read;
    api_key_limit_rate tier;
    content_by_lua_block {
        local rec = assert(openclaw.keys.lookup(ngx.var.http_x_api_key))
        ngx.say(ngx.var.api_key_id, " ", ngx.var.api_key_tier, " ", rec.scopes[1])
    }
}
"#;
    let gw = Gateway::start_full(&common::wrap("", &http, server), &[]).unwrap();
    let r = client::get(gw.addr(), "/", &[("X-API-KEY", &key)]);
    assert_eq!((r.status, r.text().as_str()), (200, "acme pro read\n"));
    assert_eq!(
        client::get(gw.addr(), "/", &[("X-API-KEY", "ock_nope")]).status,
        403
    );
    // Revoked in Redis: refused once the cached lookup expires.
    assert!(keys_cli(&url, &["revoke", "acme"]).0);
    let start = Instant::now();
    while client::get(gw.addr(), "/", &[("X-API-KEY", &key)]).status != 403 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "revocation never seen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, list) = keys_cli(&url, &["list"]);
    assert!(list.contains("acme") && list.contains("revoked"), "{list}");
    // Redis gone: a clear 503, not a hang.
    let _ = redis.child.kill();
    let _ = redis.child.wait();
    let r = client::get(gw.addr(), "/", &[("X-API-KEY", "ock_other")]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (503, "{\"error\":\"key store unavailable\"}\n")
    );
    assert!(gw.error_log().contains("API key store failed"));
}
