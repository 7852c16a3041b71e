//! nginx CLI habits and process behaviour through the real binary: -v/-V/-t/-h, daemon and
//! pid file, -s stop/quit/reload/reopen, failed reloads, log reopening, zero-downtime reload.

mod common;

use common::client::{self, Conn};
use common::{bin, wrap, Gateway};
use std::process::Command;
use std::time::Duration;

#[test]
fn version_flags_look_like_nginx() {
    let out = Command::new(bin()).arg("-V").output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let mut lines = err.lines();
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("nginx version: nginx/1.") && first.contains("(openclaw "),
        "{first}"
    );
    assert!(err.contains("\nbuilt with "));
    assert!(err.contains("\nconfigure arguments: "));
    let v = Command::new(bin()).arg("-v").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&v.stderr).lines().next(),
        Some(first)
    );
    let h = Command::new(bin()).arg("-h").output().unwrap();
    assert!(String::from_utf8_lossy(&h.stderr).contains("-s signal"));
    let bad = Command::new(bin()).arg("-x").output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn test_flag_reports_ok_and_failure() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    let conf = dir.path().join("conf/openclaw.conf");
    std::fs::write(
        &conf,
        "events {}\nhttp { server { listen 127.0.0.1:0; } }\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .arg("-p")
        .arg(dir.path())
        .arg("-t")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!(
        "the configuration file {} syntax is ok",
        conf.display()
    )));
    assert!(err.contains(&format!(
        "configuration file {} test is successful",
        conf.display()
    )));

    std::fs::write(
        &conf,
        "events {}\nhttp {\n  server {\n    listn 80;\n  }\n}\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .arg("-p")
        .arg(dir.path())
        .arg("-t")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains(&format!(
        "[emerg] unknown directive \"listn\" in {}:4",
        conf.display()
    )));
    assert!(err.contains("test failed"));
}

#[test]
fn nginx_conf_is_the_fallback_config_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    std::fs::write(dir.path().join("conf/nginx.conf"), "events {}\n").unwrap();
    let out = Command::new(bin())
        .arg("-p")
        .arg(dir.path())
        .arg("-t")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("conf/nginx.conf syntax is ok"));
}

#[test]
fn failing_start_exits_nonzero_with_emerg_line_in_stderr_and_error_log() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let conf = dir.path().join("conf/openclaw.conf");
    std::fs::write(&conf, "events {}\nfoo bar;\n").unwrap();
    let out = Command::new(bin())
        .arg("-p")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let want = format!("unknown directive \"foo\" in {}:2", conf.display());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("[emerg] {want}")));
    let log = std::fs::read_to_string(dir.path().join("logs/error.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains(&want))
        .unwrap_or_else(|| panic!("no {want} in {log:?}"));
    // nginx's layout: "YYYY/MM/DD HH:MM:SS [emerg] PID#TID: message"
    let re = openclaw::re::Regex::new(
        r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[emerg\] \d+#\d+: ",
        false,
    )
    .unwrap();
    assert!(re.is_match(line), "{line}");
    // Nothing extra in the prefix root.
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec!["conf", "logs"]);
}

#[test]
fn port_in_use_is_an_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let conf = format!("events {{}}\nhttp {{ server {{ listen 127.0.0.1:{port}; }} }}\n");
    let err = Gateway::start_full(&conf, &[]).err().expect("must fail");
    assert!(
        err.contains(&format!(
            "bind() to 127.0.0.1:{port} failed (98: Address already in use)"
        )),
        "{err}"
    );
}

#[test]
fn daemon_writes_pid_of_the_serving_process_and_stop_removes_it() {
    let mut gw = Gateway::start("location / { return 200 \"up\"; }");
    let pid = std::fs::read_to_string(gw.path("logs/nginx.pid")).unwrap();
    assert_eq!(pid, format!("{}\n", gw.pid));
    assert_eq!(client::get(gw.addr(), "/", &[]).text(), "up");
    let out = gw.cli(&["-s", "stop"]);
    assert!(out.status.success(), "{:?}", out);
    assert!(gw.stop_with(0, Duration::from_secs(10)));
    assert!(!gw.path("logs/nginx.pid").exists());
}

#[test]
fn foreground_with_g_directives() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    std::fs::write(
        dir.path().join("conf/openclaw.conf"),
        "events {}\nerror_log logs/error.log notice;\nhttp { server { listen 127.0.0.1:0; return 200 fg; } }\n",
    )
    .unwrap();
    let mut child = Command::new(bin())
        .arg("-p")
        .arg(dir.path())
        .args(["-g", "daemon off; master_process off;"])
        .spawn()
        .unwrap();
    // The pid file is written once serving; in the foreground it names this very process.
    let pid_path = dir.path().join("logs/nginx.pid");
    let start = std::time::Instant::now();
    while !pid_path.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid: u32 = std::fs::read_to_string(&pid_path)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, child.id());
    unsafe { libc::kill(pid as i32, libc::SIGQUIT) };
    let status = child.wait().unwrap();
    assert!(status.success());
}

#[test]
fn reload_applies_new_config_and_bad_reload_keeps_old() {
    let gw = Gateway::start("location / { return 200 \"one\"; }");
    let addr = gw.addr();
    assert_eq!(client::get(addr, "/", &[]).text(), "one");
    let conf_path = gw.path("conf/openclaw.conf");
    let conf = std::fs::read_to_string(&conf_path).unwrap();
    std::fs::write(&conf_path, conf.replace("\"one\"", "\"two\"")).unwrap();
    assert!(gw.cli(&["-s", "reload"]).status.success());
    assert!(gw.wait_log(
        "configuration generation 2 is serving",
        Duration::from_secs(10)
    ));
    assert_eq!(client::get(addr, "/", &[]).text(), "two");

    // A broken config: like nginx, `-s reload` itself refuses (it parses the config)...
    std::fs::write(&conf_path, conf.replace("return 200", "retrun 200")).unwrap();
    let out = gw.cli(&["-s", "reload"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown directive \"retrun\""));
    // ...and a plain SIGHUP logs the error while generation 2 keeps serving.
    gw.signal(libc::SIGHUP);
    assert!(gw.wait_log("reload failed", Duration::from_secs(10)));
    let log = gw.error_log();
    assert!(
        log.contains("[emerg]") && log.contains("unknown directive \"retrun\""),
        "{log}"
    );
    assert_eq!(client::get(addr, "/", &[]).text(), "two");
}

#[test]
fn reopen_moves_logs_to_new_files() {
    let mut gw = Gateway::start("location / { return 200 \"x\"; }");
    client::get(gw.addr(), "/first", &[]);
    // Rotate: rename, then ask for a reopen.
    std::fs::rename(gw.path("logs/access.log"), gw.path("logs/access.log.1")).unwrap();
    assert!(gw.cli(&["-s", "reopen"]).status.success());
    assert!(gw.wait_log("reopening logs", Duration::from_secs(10)));
    client::get(gw.addr(), "/second", &[]);
    gw.stop();
    let old = std::fs::read_to_string(gw.path("logs/access.log.1")).unwrap();
    let new = gw.access_log();
    assert!(new.contains("GET /second"), "new: {new}");
    assert!(!new.contains("GET /first"));
    assert!(old.contains("GET /first"), "old: {old}");
}

#[test]
fn access_log_is_flushed_within_a_second_or_so() {
    let gw = Gateway::start("location / { return 204; }");
    client::get(gw.addr(), "/flushme", &[]);
    let start = std::time::Instant::now();
    let mut found = false;
    while start.elapsed() < Duration::from_secs(5) {
        if gw.access_log().contains("GET /flushme") {
            found = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(found, "access log not flushed while running");
    assert!(start.elapsed() < Duration::from_millis(2500));
}

#[test]
fn graceful_quit_finishes_and_exits() {
    let mut gw = Gateway::start("location / { return 200 \"bye\"; }");
    let mut conn = Conn::open(gw.addr()).unwrap();
    assert_eq!(conn.get("/").unwrap().text(), "bye");
    assert!(
        gw.stop_with(libc::SIGQUIT, Duration::from_secs(5)),
        "no exit after QUIT"
    );
    assert!(gw.error_log().contains("gracefully shutting down"));
}

#[test]
fn graceful_quit_lets_a_request_in_flight_finish_and_closes_idle_connections() {
    use std::io::{Read, Write};
    let mut gw = Gateway::start(
        "location /slow { content_by_lua_block { ngx.log(ngx.ERR, \"slow one started\") ngx.sleep(0.3) ngx.say(\"finished\") } }\n\
         location / { return 200 \"idle\"; }",
    );
    let addr = gw.addr();
    // A kept-alive connection with nothing under way: closed by the stop.
    let mut idle = std::net::TcpStream::connect(addr).unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    while client::parse(&got, false).is_none() {
        let n = idle.read(&mut chunk).unwrap();
        assert!(n > 0, "closed before the answer");
        got.extend_from_slice(&chunk[..n]);
    }
    // A request in progress when the stop comes: answered, then its connection closed.
    let mut busy = std::net::TcpStream::connect(addr).unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert!(gw.wait_log("slow one started", Duration::from_secs(10)));
    gw.signal(libc::SIGQUIT);
    assert!(
        client::closed_by_peer(&mut idle),
        "idle connection left open"
    );
    let mut got = Vec::new();
    busy.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let closed = loop {
        match busy.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(_) => break false,
        }
    };
    let (resp, _) = client::parse(&got, false).expect("no answer to the request in flight");
    assert!(closed, "the connection stayed open after its answer");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "finished\n");
    assert!(
        gw.stop_with(libc::SIGQUIT, Duration::from_secs(5)),
        "no exit after QUIT"
    );
}

#[test]
fn zero_downtime_reload_with_keepalive_clients() {
    let gw = Gateway::start("location / { return 200 \"gen\"; }");
    let addr = gw.addr();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let conf_path = gw.path("conf/openclaw.conf");
    let conf = std::fs::read_to_string(&conf_path).unwrap();
    let (oks, errors) = std::thread::scope(|s| {
        let clients: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut conn = Conn::open(addr).unwrap();
                    let (mut ok, mut bad) = (0u32, Vec::new());
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        match conn.get("/") {
                            Ok(r) if r.status == 200 => ok += 1,
                            Ok(r) => bad.push(format!("status {}", r.status)),
                            Err(e) => {
                                bad.push(format!("error {e}"));
                                conn = Conn::open(addr).unwrap();
                            }
                        }
                    }
                    (ok, bad)
                })
            })
            .collect();
        for i in 2..=6 {
            let body = format!("\"gen{i}\"");
            std::fs::write(&conf_path, conf.replace("\"gen\"", &body)).unwrap();
            assert!(gw.cli(&["-s", "reload"]).status.success());
            let want = format!("configuration generation {i} is serving");
            assert!(gw.wait_log(&want, Duration::from_secs(10)), "{want}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut oks = 0;
        let mut errors = vec![];
        for c in clients {
            let (ok, bad) = c.join().unwrap();
            oks += ok;
            errors.extend(bad);
        }
        (oks, errors)
    });
    assert!(errors.is_empty(), "{errors:?}");
    assert!(oks > 0);
    assert_eq!(client::get(addr, "/", &[]).text(), "gen6");
}

#[test]
fn workers_serve_on_one_port_and_http2_prior_knowledge_works() {
    let conf = wrap(
        "",
        "",
        "listen 127.0.0.2:0 http2;\nlocation / { return 200 \"h2:$server_protocol\"; }",
    );
    let gw = Gateway::start_full(&conf, &[]).unwrap();
    let h2 = gw.addrs[1];
    let out = Command::new("curl")
        .args(["-s", "--http2-prior-knowledge"])
        .arg(format!("http://{h2}/"))
        .output();
    match out {
        Ok(o) if o.status.success() => {
            assert_eq!(String::from_utf8_lossy(&o.stdout), "h2:HTTP/2.0")
        }
        other => panic!("curl failed: {other:?}"),
    }
    // The same socket also speaks HTTP/1.1.
    assert_eq!(client::get(h2, "/", &[]).text(), "h2:HTTP/1.1");
}

#[test]
fn reload_retires_old_lua_timers_with_premature() {
    let http = "init_worker_by_lua_block {\n    ngx.timer.every(0.02, function(premature)\n        ngx.log(ngx.WARN, \"tick premature=\", premature, \" exiting=\", ngx.worker.exiting())\n    end)\n}";
    let conf = wrap(
        "",
        http,
        "location / { content_by_lua_block { ngx.say(\"ok\") } }",
    );
    let gw = Gateway::start_full(&conf, &[]).unwrap();
    assert!(gw.wait_log(
        "tick premature=false exiting=false",
        Duration::from_secs(10)
    ));
    assert!(gw.cli(&["-s", "reload"]).status.success());
    assert!(gw.wait_log(
        "configuration generation 2 is serving",
        Duration::from_secs(10)
    ));
    assert!(
        gw.wait_log("tick premature=true exiting=true", Duration::from_secs(10)),
        "{}",
        gw.error_log()
    );
    assert_eq!(client::get(gw.addr(), "/", &[]).text(), "ok\n");
}

#[test]
fn idle_keepalive_connections_close_after_keepalive_timeout() {
    use std::io::Read;
    let gw = Gateway::start("keepalive_timeout 1;\nlocation / { return 200 \"k\"; }");
    let mut s = std::net::TcpStream::connect(gw.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    use std::io::Write;
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let start = std::time::Instant::now();
    let mut buf = vec![];
    // The response arrives, then the server closes the idle connection by itself.
    let _ = s.read_to_end(&mut buf);
    let waited = start.elapsed();
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
}

#[test]
fn reload_can_turn_on_http2_for_a_kept_listen() {
    let gw = Gateway::start("location / { return 200 \"$server_protocol\"; }");
    let addr = gw.addr();
    let h2 = || {
        Command::new("curl")
            .args(["-s", "--http2-prior-knowledge", "--max-time", "5"])
            .arg(format!("http://{addr}/"))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    assert_ne!(h2(), "HTTP/2.0");
    let path = gw.path("conf/openclaw.conf");
    let conf = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        conf.replace("listen 127.0.0.1:0;", "listen 127.0.0.1:0 http2;"),
    )
    .unwrap();
    assert!(gw.cli(&["-s", "reload"]).status.success());
    assert!(gw.wait_log(
        "configuration generation 2 is serving",
        Duration::from_secs(10)
    ));
    assert_eq!(h2(), "HTTP/2.0");
    assert_eq!(client::get(addr, "/", &[]).text(), "HTTP/1.1");
}

#[test]
fn limit_conn_counts_requests_in_flight() {
    let http = "limit_conn_zone $binary_remote_addr zone=addr:1m;\nlua_shared_dict st 1m;";
    let server = "limit_conn_status 429;\nlocation /slow { limit_conn addr 1; content_by_lua_block { ngx.shared.st:set(\"in\", 1) ngx.sleep(0.5) ngx.say(\"slow\") } }\nlocation /fast { limit_conn addr 1; content_by_lua_block { ngx.say(\"fast\") } }\nlocation /probe { content_by_lua_block { ngx.print(ngx.shared.st:get(\"in\") or 0) } }";
    let gw = Gateway::start_full(&wrap("", http, server), &[]).unwrap();
    let addr = gw.addr();
    let mut slow = Conn::open(addr).unwrap();
    let t = std::thread::spawn(move || slow.get("/slow").unwrap().status);
    // Wait (bounded) until the slow request holds its slot, then ask again.
    let start = std::time::Instant::now();
    while client::get(addr, "/probe", &[]).text() != "1" {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "slow request never started"
        );
    }
    assert_eq!(client::get(addr, "/fast", &[]).status, 429);
    assert_eq!(t.join().unwrap(), 200);
    // Released when the slow request ended (its context drops once the response is out).
    let start = std::time::Instant::now();
    let mut status = 0;
    while start.elapsed() < Duration::from_secs(2) && status != 200 {
        status = client::get(addr, "/fast", &[]).status;
    }
    assert_eq!(status, 200);
    assert!(gw
        .error_log()
        .contains("limiting connections by zone \"addr\""));
}

#[test]
fn spec_runner_reports_failures_with_position_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x_spec.lua"),
        "describe('math', function()\n  it('adds', function() assert.equals(2, 1 + 1) end)\n  it('fails', function()\n    assert.equals(3, 1 + 1)\n  end)\nend)\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .arg("test")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("x_spec.lua:4: expected 3, got 2"),
        "{stdout}"
    );
    assert!(stdout.contains("math fails"), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("1 passed, 1 failed"),
        "{stdout}"
    );
}

#[test]
fn repl_runs_piped_input_as_a_script() {
    use std::io::Write;
    let mut child = Command::new(bin())
        .arg("repl")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"print(ngx.md5(\"a\"))\n40 + 2\nfunction f(x)\n  return x * 2\nend\nf(21)\n{1, 2}\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "0cc175b9c0f1b6a831c399e269772661\n42\n42\n{ 1, 2 }\n"
    );
}

#[test]
fn udp_cosocket_round_trip_and_timeout() {
    let echo = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = echo.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let (n, from) = echo.recv_from(&mut buf).unwrap();
        let mut reply = b"echo:".to_vec();
        reply.extend_from_slice(&buf[..n]);
        echo.send_to(&reply, from).unwrap();
    });
    let loc = format!(
        "location /t {{ content_by_lua_block {{\n local u = ngx.socket.udp()\n u:settimeout(2000)\n ngx.say(u:setpeername(\"127.0.0.1\", {port}))\n ngx.say(u:send({{\"he\", \"llo\"}}))\n ngx.say(u:receive())\n u:settimeout(50)\n ngx.say(u:receive())\n ngx.say(u:close())\n }} }}"
    );
    let gw = Gateway::start(&loc);
    let body = client::get(gw.addr(), "/t", &[]).text();
    server.join().unwrap();
    assert_eq!(body, "1\n1\necho:hello\nniltimeout\n1\n");
}

#[test]
fn log_by_lua_may_use_cosockets_and_sleep_after_the_response() {
    let be = common::upstream::Backend::start("logs");
    let loc = format!(
        r#"location /t {{
            content_by_lua_block {{ ngx.say("answered") }}
            log_by_lua_block {{
                ngx.sleep(0.05)
                local sock = ngx.socket.tcp()
                sock:settimeout(2000)
                assert(sock:connect("127.0.0.1", {port}))
                assert(sock:send("GET /count/shipped?status=" .. ngx.var.status .. " HTTP/1.0\r\n\r\n"))
                local line = sock:receive("*l")
                ngx.var.shipped = line
                ngx.log(ngx.ERR, "shipped: ", line)
            }}
        }}
        location /boom {{
            return 200 "ok\n";
            log_by_lua_block {{ error("log boom") }}
        }}"#,
        port = be.addr.port()
    );
    let conf = common::wrap(
        "",
        "log_format shipped '$request_uri $status $shipped'; access_log logs/access.log shipped;",
        &format!("set $shipped -; {loc}"),
    );
    let gw = Gateway::start_full(&conf, &[]).unwrap();
    let r = client::get(gw.addr(), "/t", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "answered\n"));
    assert!(
        gw.wait_log("shipped: HTTP/1.1 200", Duration::from_secs(10)),
        "{}",
        gw.error_log()
    );
    assert_eq!(be.counted(), 1);
    // The access log line is written after the Lua log phase, with what it set.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !gw.access_log().contains("/t 200 HTTP/1.1 200") {
        assert!(std::time::Instant::now() < deadline, "{}", gw.access_log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = client::get(gw.addr(), "/boom", &[]);
    assert_eq!(r.status, 200);
    assert!(
        gw.wait_log(
            "failed to run log_by_lua*: log_by_lua(",
            Duration::from_secs(10)
        ),
        "{}",
        gw.error_log()
    );
}

#[test]
fn flushed_lua_output_reaches_the_client_before_the_handler_ends() {
    use std::io::{Read, Write};
    let conf = wrap(
        "",
        "lua_shared_dict d 1m;",
        r#"
        location /stream { content_by_lua_block {
            ngx.say("first")
            ngx.flush(true)
            for _ = 1, 1000 do
                if ngx.shared.d:get("go") then break end
                ngx.sleep(0.01)
            end
            ngx.say("second ", ngx.shared.d:get("go") and "released" or "timed out")
        } }
        location /go { content_by_lua_block { ngx.shared.d:set("go", 1) ngx.say("ok") } }
        "#,
    );
    let gw = Gateway::start_full(&conf, &[]).unwrap();
    let mut s = std::net::TcpStream::connect(gw.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    // The head and the first chunk arrive while the handler still waits for /go.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("first\n") {
        let n = s.read(&mut buf).expect("the first chunk never came");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).to_string();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Transfer-Encoding: chunked\r\n"), "{text}");
    assert!(!text.contains("second"), "{text}");
    assert_eq!(client::get(gw.addr(), "/go", &[]).text(), "ok\n");
    s.read_to_end(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got).to_string();
    assert!(text.contains("second released\n"), "{text}");
    assert!(text.ends_with("0\r\n\r\n"), "{text}");
}

#[test]
fn cosockets_connect_to_unix_domain_sockets_and_pool_them() {
    use std::io::{BufRead, Write};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    // A line echo server, a thread per connection; "quit" ends it.
    let server = std::thread::spawn(move || {
        let (quit_tx, quit_rx) = std::sync::mpsc::channel::<()>();
        let mut conns = 0;
        listener.set_nonblocking(true).unwrap();
        loop {
            if quit_rx.try_recv().is_ok() {
                return conns;
            }
            let stream = match listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                Err(_) => return conns,
            };
            stream.set_nonblocking(false).unwrap();
            conns += 1;
            let quit = quit_tx.clone();
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut w = stream;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    if line.trim() == "quit" {
                        let _ = quit.send(());
                        return;
                    }
                    let _ = w.write_all(format!("echo {line}").as_bytes());
                    line.clear();
                }
            });
        }
    });
    let loc = format!(
        r#"location /t {{ content_by_lua_block {{
            local path = "unix:{path}"
            for i = 1, 2 do
                local sock = ngx.socket.tcp()
                sock:settimeout(2000)
                assert(sock:connect(path, {{ pool = "echo" }}))
                ngx.say("reused ", sock:getreusedtimes())
                assert(sock:send("hello " .. i .. "\n"))
                ngx.say(sock:receive())
                assert(sock:setkeepalive())
            end
            local last = ngx.socket.tcp()
            assert(last:connect(path))
            last:send("quit\n")
            last:close()
        }} }}"#,
        path = path.display()
    );
    let gw = Gateway::start(&loc);
    let r = client::get(gw.addr(), "/t", &[]);
    assert_eq!(r.text(), "reused 0\necho hello 1\nreused 1\necho hello 2\n");
    // Two connections: the pooled one for both greetings, one for "quit".
    assert_eq!(server.join().unwrap(), 2);
}
