//! `openclaw test` on spec folders of its own: failures reported with the `it`'s and the
//! assertion's `file:line`, and `openclaw.test.request` through a configuration that
//! proxies to a real upstream and caches, with the fake clock expiring the entry.

mod common;

use common::upstream::Backend;
use std::process::Command;

fn run(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let out = Command::new(common::bin())
        .arg("test")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn failing_spies_and_setups_are_named_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a_spec.lua"),
        r#"describe("spies", function()
    it("counts calls", function()
        local s = spy.new(function() end)
        s(1)
        assert.spy(s).was.called(2)
    end)
    it("passes", function()
        local t = { f = function() return 1 end }
        stub(t, "f", 5)
        assert.are.equal(5, t.f())
    end)
end)
describe("broken setup", function()
    setup(function() error("setup broke") end)
    it("never runs", function() end)
end)
"#,
    )
    .unwrap();
    let (code, out, err) = run(&[dir.path().as_os_str()]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(out.contains("a_spec.lua:2: spies counts calls\n"), "{out}");
    assert!(
        out.contains("a_spec.lua:5: expected to be called 2 times, was called 1 times"),
        "{out}"
    );
    assert!(
        out.contains("a_spec.lua:13: broken setup (setup)\n"),
        "{out}"
    );
    assert!(out.contains("setup broke"), "{out}");
    assert!(out.trim_end().ends_with("1 passed, 2 failed"), "{out}");
}

#[test]
fn requests_reach_real_upstreams_and_the_fake_clock_expires_cache_entries() {
    let be = Backend::start("up1");
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("spec.conf");
    std::fs::write(
        &conf,
        format!(
            r#"events {{}}
http {{
    proxy_cache_path {cache} keys_zone=one:1m;
    server {{
        listen 127.0.0.1:8080;
        location / {{
            proxy_cache one;
            proxy_cache_valid 200 10s;
            add_header X-Cache $upstream_cache_status always;
            proxy_pass http://{addr};
        }}
    }}
}}
"#,
            cache = dir.path().join("cache").display(),
            addr = be.addr
        ),
    )
    .unwrap();
    let specs = dir.path().join("specs");
    std::fs::create_dir(&specs).unwrap();
    std::fs::write(
        specs.join("cache_spec.lua"),
        r#"describe("the cache", function()
    it("stores, hits, and expires on the fake clock", function()
        local r = openclaw.test.request{ path = "/count/a" }
        assert.equals(200, r.status)
        assert.equals("up1 count 1\n", r.body)
        assert.equals("MISS", r.headers["x-cache"])
        r = openclaw.test.request{ path = "/count/a" }
        assert.equals("HIT", r.headers["x-cache"])
        assert.equals("up1 count 1\n", r.body)
        -- proxy_cache_valid 10s: eleven seconds later the entry is stale.
        r = openclaw.test.request{ path = "/count/a", advance = 11 }
        assert.equals("EXPIRED", r.headers["x-cache"])
        assert.equals("up1 count 2\n", r.body)
    end)
end)
"#,
    )
    .unwrap();
    let (code, out, err) = run(&[
        "-p".as_ref(),
        dir.path().as_os_str(),
        "--config".as_ref(),
        conf.as_os_str(),
        specs.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(out, "1 passed, 0 failed\n");
    assert_eq!(be.counted(), 2);
}

#[test]
fn request_without_a_configuration_says_how_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x_spec.lua"),
        "it('needs a config', function()\n  openclaw.test.request{ path = '/' }\nend)\n",
    )
    .unwrap();
    let (code, out, _) = run(&[dir.path().as_os_str()]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("openclaw.test.request needs a configuration: run with -c CONF"),
        "{out}"
    );
}
