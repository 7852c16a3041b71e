//! The response cache across requests and restarts: persistence on disk, purge by tag,
//! `Vary` variants, stale answers when the upstream is gone, the cache lock, compression of
//! cached responses. (Single-response rules are data in tests/cases/cache.t.)

mod common;

use common::upstream::Backend;
use common::{client, Gateway};
use std::time::{Duration, Instant};

fn conf(cache_dir: &std::path::Path, backend: std::net::SocketAddr, extra: &str) -> String {
    common::wrap(
        "",
        &format!(
            "proxy_cache_path {} levels=1:2 keys_zone=one:1m max_size=10m;",
            cache_dir.display()
        ),
        &format!(
            "location / {{ proxy_cache one; proxy_cache_key $uri$is_args$args; add_header X-Cache $upstream_cache_status always; {extra} proxy_pass http://{backend}; }}"
        ),
    )
}

/// A gateway caching in a fresh directory in front of a fresh upstream.
fn cached(extra: &str) -> (tempfile::TempDir, Backend, Gateway) {
    let dir = tempfile::tempdir().unwrap();
    let be = Backend::start("up1");
    let gw = Gateway::start_full(&conf(dir.path(), be.addr, extra), &[]).unwrap();
    (dir, be, gw)
}

#[test]
fn entries_survive_a_restart_without_the_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let be = Backend::start("up1");
    let text = conf(dir.path(), be.addr, "proxy_cache_valid 200 10m;");
    let mut gw = Gateway::start_full(&text, &[]).unwrap();
    let r = client::get(gw.addr(), "/count/persist", &[]);
    assert_eq!(
        (r.text().as_str(), r.header("x-cache")),
        ("up1 count 1\n", Some("MISS"))
    );
    gw.stop();
    drop(be);
    // A new process, the upstream gone: the entry comes from disk.
    let gw = Gateway::start_full(&text, &[]).unwrap();
    let r = client::get(gw.addr(), "/count/persist", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(
        (r.text().as_str(), r.header("x-cache")),
        ("up1 count 1\n", Some("HIT"))
    );
}

#[test]
fn lua_app_entries_are_read_back_from_disk_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let text = common::wrap(
        "",
        &format!(
            "proxy_cache_path {} keys_zone=app:1m;",
            dir.path().display()
        ),
        r#"location = /set { content_by_lua_block { ngx.say(openclaw.cache.set("app", "k", "kept", 600)) } }
           location = /get { content_by_lua_block { ngx.say(openclaw.cache.get("app", "k")) } }
           location = /hf {
               content_by_lua_block { ngx.say("body") }
               header_filter_by_lua_block { ngx.header["X-V"] = openclaw.cache.get("app", "k") }
           }"#,
    );
    let mut gw = Gateway::start_full(&text, &[]).unwrap();
    assert_eq!(client::get(gw.addr(), "/set", &[]).text(), "true\n");
    gw.stop();
    // A new process: the entry is only on disk. A content handler yields while the
    // blocking pool reads it; a header filter (which cannot yield) reads it in place.
    let mut gw = Gateway::start_full(&text, &[]).unwrap();
    assert_eq!(client::get(gw.addr(), "/get", &[]).text(), "kept\n");
    gw.stop();
    let gw = Gateway::start_full(&text, &[]).unwrap();
    let r = client::get(gw.addr(), "/hf", &[]);
    assert_eq!(
        (r.text().as_str(), r.header("x-v")),
        ("body\n", Some("kept"))
    );
}

/// Cache files under `dir` (the temporary directory left out).
fn cache_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for ent in std::fs::read_dir(&d).unwrap().flatten() {
            let p = ent.path();
            if p.file_name().is_some_and(|n| n == ".tmp") {
                continue;
            }
            if p.is_dir() {
                dirs.push(p);
            } else {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn stores_and_purges_reach_the_disk_in_order_by_a_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    let be = Backend::start("up1");
    let text = conf(
        dir.path(),
        be.addr,
        "proxy_cache_valid 200 10m; proxy_cache_purge $http_x_purge;",
    );
    let mut gw = Gateway::start_full(&text, &[]).unwrap();
    let path = |i: usize| {
        let tag = if i.is_multiple_of(2) { "even" } else { "odd" };
        format!("/count/p{i}?h=Surrogate-Key:{tag}")
    };
    for i in 0..30 {
        assert_eq!(
            client::get(gw.addr(), &path(i), &[]).header("x-cache"),
            Some("MISS")
        );
    }
    // Each purge is queued right behind the stores of the same keys.
    let purge = |uri: &str, hdrs: &[(&str, &str)]| {
        let mut h = vec![("X-Purge", "1")];
        h.extend_from_slice(hdrs);
        client::request(gw.addr(), "PURGE", uri, &h, b"").status
    };
    assert_eq!(purge("/any", &[("Surrogate-Key", "even")]), 204);
    assert_eq!(purge("/count/p1*", &[]), 204); // 1, 11, 13, 15, 17, 19
    assert_eq!(purge(&path(3), &[]), 204);
    assert_eq!(purge(&path(3), &[]), 404);
    let kept = [5, 7, 9, 21, 23, 25, 27, 29];
    assert!(gw.stop_with(libc::SIGQUIT, Duration::from_secs(15)));
    assert_eq!(cache_files(dir.path()), kept.len());
    // A new process without the upstream serves exactly what was kept.
    drop(be);
    let gw = Gateway::start_full(&text, &[]).unwrap();
    for i in 0..30 {
        let r = client::get(gw.addr(), &path(i), &[]);
        if kept.contains(&i) {
            assert_eq!(r.text(), format!("up1 count {}\n", i + 1));
            assert_eq!(r.header("x-cache"), Some("HIT"));
        } else {
            assert_eq!(r.status, 502, "/p{i} was purged");
        }
    }
}

#[test]
fn a_failed_disk_write_is_logged_and_the_entry_served_from_memory() {
    let (dir, be, gw) = cached("proxy_cache_valid 200 10m;");
    // A file where the temporary directory was: every write fails with ENOTDIR.
    let tmp = dir.path().join(".tmp");
    std::fs::remove_dir(&tmp).unwrap();
    std::fs::write(&tmp, b"").unwrap();
    let r = client::get(gw.addr(), "/count/f", &[]);
    assert_eq!(r.header("x-cache"), Some("MISS"));
    assert!(gw.wait_log("failed (20: Not a directory)", Duration::from_secs(10)));
    let line = gw
        .error_log()
        .lines()
        .find(|l| l.contains("Not a directory"))
        .unwrap()
        .to_string();
    assert!(
        line.contains("[crit]") && line.contains("cache \"one\": open() \""),
        "{line}"
    );
    let r = client::get(gw.addr(), "/count/f", &[]);
    assert_eq!(
        (r.text().as_str(), r.header("x-cache")),
        ("up1 count 1\n", Some("HIT"))
    );
    assert_eq!(be.counted(), 1);
    assert_eq!(cache_files(dir.path()), 0);
}

#[test]
fn purge_by_surrogate_key_tags() {
    let (_dir, be, gw) = cached("proxy_cache_valid 200 10m; proxy_cache_purge $http_x_purge;");
    let a = "/count/a?h=Surrogate-Key:product-1+list";
    let b = "/count/b?h=Cache-Tag:product-2,list";
    let c = "/count/c?h=Surrogate-Key:product-3";
    for p in [a, b, c] {
        let r = client::get(gw.addr(), p, &[]);
        assert_eq!(r.header("x-cache"), Some("MISS"));
        // Tag headers are for the cache, not for clients.
        assert!(r.header("surrogate-key").is_none() && r.header("cache-tag").is_none());
    }
    let purge = client::request(
        gw.addr(),
        "PURGE",
        "/any",
        &[("X-Purge", "1"), ("Surrogate-Key", "list")],
        b"",
    );
    assert_eq!(purge.status, 204);
    assert_eq!(
        client::get(gw.addr(), a, &[]).header("x-cache"),
        Some("MISS")
    );
    assert_eq!(
        client::get(gw.addr(), b, &[]).header("x-cache"),
        Some("MISS")
    );
    assert_eq!(
        client::get(gw.addr(), c, &[]).header("x-cache"),
        Some("HIT")
    );
    assert_eq!(be.counted(), 5);
}

#[test]
fn vary_keeps_one_variant_per_header_value() {
    let (_dir, _be, gw) = cached("proxy_cache_valid 200 10m;");
    let p = "/count/v?h=Vary:Accept-Language";
    let get = |lang: &str| {
        let r = client::get(gw.addr(), p, &[("Accept-Language", lang)]);
        (r.text(), r.header("x-cache").unwrap_or("").to_string())
    };
    assert_eq!(get("en"), ("up1 count 1\n".into(), "MISS".into()));
    assert_eq!(get("de"), ("up1 count 2\n".into(), "MISS".into()));
    assert_eq!(get("en"), ("up1 count 1\n".into(), "HIT".into()));
    assert_eq!(get("de"), ("up1 count 2\n".into(), "HIT".into()));
}

#[test]
fn stale_entry_is_served_when_the_upstream_fails() {
    let (_dir, be, gw) = cached("proxy_cache_use_stale error timeout http_502;");
    let p = "/count/s?h=Cache-Control:max-age=1";
    assert_eq!(client::get(gw.addr(), p, &[]).text(), "up1 count 1\n");
    drop(be);
    // Once the second of freshness is over, the dead upstream's error gives the stale copy.
    let start = Instant::now();
    loop {
        let r = client::get(gw.addr(), p, &[]);
        assert_eq!(r.text(), "up1 count 1\n");
        if r.header("x-cache") == Some("STALE") {
            break;
        }
        assert_eq!(r.header("x-cache"), Some("HIT"));
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never went stale"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(gw
        .error_log()
        .contains("connect() failed (111: Connection refused)"));
}

#[test]
fn background_update_serves_stale_at_once_and_refreshes_behind() {
    let (_dir, be, gw) =
        cached("proxy_cache_use_stale updating; proxy_cache_background_update on;");
    let p = "/count/bg?h=Cache-Control:max-age=1";
    let get = || {
        let r = client::get(gw.addr(), p, &[]);
        (r.text(), r.header("x-cache").unwrap_or("").to_string())
    };
    assert_eq!(get(), ("up1 count 1\n".into(), "MISS".into()));
    // Once expired, the first request gets the stale copy at once (STALE) and starts the
    // refresh; later ones get the refreshed entry.
    let start = Instant::now();
    loop {
        let (body, status) = get();
        if status == "STALE" {
            assert_eq!(body, "up1 count 1\n");
            break;
        }
        assert_eq!((body.as_str(), status.as_str()), ("up1 count 1\n", "HIT"));
        assert!(start.elapsed() < Duration::from_secs(10), "never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    loop {
        let (body, status) = get();
        if body == "up1 count 2\n" {
            assert_eq!(status, "HIT");
            break;
        }
        // While the update runs, the stale copy answers (UPDATING).
        assert_eq!(body, "up1 count 1\n");
        assert!(start.elapsed() < Duration::from_secs(10), "never refreshed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(be.counted(), 2);
}

#[test]
fn the_cache_lock_sends_one_request_for_concurrent_misses() {
    let (_dir, be, gw) = cached("proxy_cache_valid 200 10m; proxy_cache_lock on;");
    let addr = gw.addr();
    // /slow answers after 300 ms: every request starts while the first is in flight.
    let handles: Vec<_> = (0..6)
        .map(|_| std::thread::spawn(move || client::get(addr, "/slow?ms=300", &[])))
        .collect();
    let mut statuses: Vec<String> = handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap()
                .header("x-cache")
                .unwrap_or("")
                .to_string()
        })
        .collect();
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| *s == "MISS").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| *s == "HIT").count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(be.connections(), 1);
}

#[test]
fn a_lock_held_past_lock_age_lets_one_more_request_go() {
    let (_dir, be, gw) = cached(
        "proxy_cache_valid 200 10m; proxy_cache_lock on; proxy_cache_lock_age 200ms; proxy_cache_lock_timeout 10s;",
    );
    let addr = gw.addr();
    // The first request holds the lock for 1.5 s (a slow upstream).
    let first = std::thread::spawn(move || client::get(addr, "/slow?ms=1500", &[]));
    let start = Instant::now();
    while be.connections() < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the first fetch never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // The second waits for the lock; 200 ms into it, it goes upstream itself.
    let second = client::get(addr, "/slow?ms=1500", &[]);
    assert_eq!(second.header("x-cache"), Some("MISS"));
    assert_eq!(first.join().unwrap().header("x-cache"), Some("MISS"));
    assert_eq!(be.connections(), 2);
    // Whichever stored last, the entry is there now.
    let third = client::get(addr, "/slow?ms=1500", &[]);
    assert_eq!(third.header("x-cache"), Some("HIT"));
}

#[test]
fn cached_responses_are_compressed_for_clients_that_accept_it() {
    let (_dir, _be, gw) =
        cached("proxy_cache_valid 200 10m; gzip on; gzip_types text/plain; gzip_min_length 1;");
    let p = "/count/z";
    let plain = client::get(gw.addr(), p, &[]);
    assert_eq!(plain.text(), "up1 count 1\n");
    for _ in 0..2 {
        let r = client::get(gw.addr(), p, &[("Accept-Encoding", "gzip")]);
        assert_eq!(r.header("x-cache"), Some("HIT"));
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        let mut out = String::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(&r.body[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "up1 count 1\n");
    }
}
