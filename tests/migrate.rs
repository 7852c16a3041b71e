//! `openclaw migrate` through the real binary: a fully supported OpenResty-style
//! configuration (Lua blocks, files, required modules) exits 0; one with unknown and
//! ignored directives, unsupported APIs, aliases and missing modules exits 1 with each
//! problem at its file:line.

mod common;

use std::path::Path;
use std::process::Command;

/// Writes `files` (path relative to the prefix, contents) under a fresh prefix.
fn prefix(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

/// Runs `openclaw migrate -p PREFIX [args]`: (exit code, stdout, stderr).
fn migrate(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::bin())
        .arg("migrate")
        .arg("-p")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SUPPORTED_CONF: &str = r#"worker_processes 1;
events { worker_connections 64; }
http {
    lua_shared_dict cache 1m;
    include conf.d/*.conf;
    init_by_lua_block {
        local cjson = require "cjson.safe"
    }
    server {
        listen 127.0.0.1:0;
        location / {
            content_by_lua_block {
                local re = ngx.re
                local m = re.match(ngx.var.uri, [[^/(\w+)]], "jo")
                ngx.shared.cache:set("k", 1)
                ngx.say(require("app.util").hello(), ngx.HTTP_OK)
            }
        }
        location /f {
            content_by_lua_file lua/handler.lua;
            log_by_lua 'ngx.log(ngx.ERR, "done")';
        }
    }
}
"#;

#[test]
fn a_supported_configuration_exits_0() {
    let dir = prefix(&[
        ("conf/nginx.conf", SUPPORTED_CONF),
        ("conf/conf.d/a.conf", "gzip on;\n"),
        (
            "lua/handler.lua",
            "local lru = require \"resty.lrucache\"\nlocal util = require \"app.util\"\nngx.say(ngx.time())\n",
        ),
        (
            "lua/app/util.lua",
            "local _M = {}\nfunction _M.hello() return ngx.md5(\"x\") end\nreturn _M\n",
        ),
    ]);
    let (code, out, err) = migrate(dir.path(), &[]);
    assert_eq!(code, 0, "{out}{err}");
    for line in [
        "conf/conf.d/a.conf:1: supported: directive \"gzip\"",
        "conf/nginx.conf:1: supported: directive \"worker_processes\"",
        "conf/nginx.conf:7: supported: module cjson.safe (built in)",
        "conf/nginx.conf:14: supported: API ngx.re.match",
        "conf/nginx.conf:14: supported: API ngx.var",
        "conf/nginx.conf:15: supported: API ngx.shared",
        "conf/nginx.conf:16: supported: API ngx.say",
        "conf/nginx.conf:16: supported: module app.util (lua/app/util.lua)",
        "conf/nginx.conf:16: supported: API ngx.HTTP_OK",
        "conf/nginx.conf:21: supported: API ngx.log",
        "conf/nginx.conf:21: supported: API ngx.ERR",
        "lua/app/util.lua:2: supported: API ngx.md5",
        "lua/handler.lua:1: supported: module resty.lrucache (bundled)",
        "lua/handler.lua:3: supported: API ngx.time",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
    }
    // `local re = ngx.re` alone is not reported; the module file is scanned once.
    assert!(!out.contains("API ngx.re\n"), "{out}");
    assert_eq!(out.matches("lua/app/util.lua:2:").count(), 1, "{out}");
    assert_eq!(
        out.lines().last(),
        Some("29 supported, 0 ignored, 0 unsupported, 0 errors")
    );
    // Sorted by file, then line.
    let keys: Vec<(String, usize)> = out
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // Only problems with -q: none.
    let (code, out, _) = migrate(dir.path(), &["-q"]);
    assert_eq!(code, 0);
    assert_eq!(out, "29 supported, 0 ignored, 0 unsupported, 0 errors\n");
}

const PROBLEM_CONF: &str = r#"user nobody;
events { worker_connections 64; }
http {
    sendfile on;
    uwsgi_param X-A b;
    server {
        listen 127.0.0.1:0;
        location / {
            content_by_lua_block {
                -- ngx.commented_out() is not code, nor is [[ ngx.in_a_string ]]
                local s = [==[ ngx.long_string() ]] ]==]
                local re = ngx.re
                re.foo("x")
                local ok = ngx.socket.stream()
                ngx.foo()
                local http = require "resty.http"
            }
        }
        location /f {
            access_by_lua_file lua/access.lua;
        }
    }
}
"#;

#[test]
fn unsupported_directives_apis_and_modules_exit_1() {
    let dir = prefix(&[
        ("conf/nginx.conf", PROBLEM_CONF),
        (
            "lua/access.lua",
            "local ngx_req = ngx.req\nngx_req.init_body()\nlocal m = require(\"ngx.re\")\nngx.socket.stream()\n",
        ),
    ]);
    let (code, out, err) = migrate(dir.path(), &["-q"]);
    assert_eq!(code, 1, "{out}{err}");
    let expected = [
        "conf/nginx.conf:1: ignored: directive \"user\" (accepted, no effect)",
        "conf/nginx.conf:4: ignored: directive \"sendfile\" (accepted, no effect)",
        "conf/nginx.conf:5: unsupported: directive \"uwsgi_param\" (unknown to openclaw)",
        "conf/nginx.conf:13: unsupported: API ngx.re.foo (no such API in openclaw)",
        "conf/nginx.conf:14: unsupported: API ngx.socket.stream (raises \"API not supported by openclaw\")",
        "conf/nginx.conf:15: unsupported: API ngx.foo (no such API in openclaw)",
        "conf/nginx.conf:16: unsupported: module resty.http (neither built in nor bundled, and not found on lua_package_path)",
        "lua/access.lua:2: unsupported: API ngx.req.init_body (raises \"API not supported by openclaw\")",
        "lua/access.lua:4: unsupported: API ngx.socket.stream (raises \"API not supported by openclaw\")",
        "note: the configuration loader (as `openclaw -t`) stops at its first error; fix it and run migrate again to check what follows",
        "10 supported, 2 ignored, 7 unsupported, 0 errors",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "{out}");
    // The full report has the supported lines too, and no hit inside comments or strings.
    let (code, full, _) = migrate(dir.path(), &[]);
    assert_eq!(code, 1);
    assert!(full.contains("lua/access.lua:3: supported: module ngx.re (bundled)\n"));
    for fake in ["commented_out", "in_a_string", "long_string"] {
        assert!(!full.contains(fake), "{full}");
    }
}

#[test]
fn rejected_argument_forms_and_broken_lua_are_reported() {
    let conf = r#"events {}
http {
    upstream u { server unix:/tmp/openclaw-migrate.sock; }
    server {
        listen 127.0.0.1:0;
        location / { content_by_lua_block { local x = = 1 } }
        location /m { content_by_lua_file lua/missing.lua; }
    }
}
"#;
    let dir = prefix(&[("conf/openclaw.conf", conf)]);
    let (code, out, _) = migrate(dir.path(), &["-q"]);
    assert_eq!(code, 1, "{out}");
    let missing = dir.path().join("lua/missing.lua");
    let expected = [
        "conf/openclaw.conf:3: unsupported: directive \"server\" (unix domain socket upstreams are not supported by openclaw: \"unix:/tmp/openclaw-migrate.sock\")".to_string(),
        "conf/openclaw.conf:6: error: Lua syntax error: unexpected symbol near '='".to_string(),
        format!("conf/openclaw.conf:7: error: open() \"{}\" failed (2: No such file or directory)", missing.display()),
        "note: the configuration loader (as `openclaw -t`) stops at its first error; fix it and run migrate again to check what follows".to_string(),
        "9 supported, 0 ignored, 1 unsupported, 2 errors".to_string(),
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "{out}");
}

#[test]
fn an_unreadable_configuration_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = migrate(dir.path(), &["-c", "conf/nope.conf"]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    let path = dir.path().join("conf/nope.conf");
    assert_eq!(
        err.trim_end(),
        format!(
            "openclaw: [emerg] open() \"{}\" failed (2: No such file or directory)",
            path.display()
        )
    );
}
