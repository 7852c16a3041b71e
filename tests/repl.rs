//! `openclaw repl` end to end: on a real terminal (a pty) for line editing, history, Tab
//! completion and multi-line input; through a pipe with a configuration for `:req`,
//! `:phases`, `:reload` and `:load`.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_openclaw")
}

/// The REPL on the slave side of a pty; what it prints collects in `out`.
struct Term {
    child: Child,
    master: std::fs::File,
    out: Arc<(Mutex<String>, Condvar)>,
    /// How much of `out` earlier `expect`s consumed.
    seen: usize,
}

impl Term {
    fn start(history: &std::path::Path, args: &[&str]) -> Term {
        let (mut master, mut slave) = (0, 0);
        let ws = libc::winsize {
            ws_row: 40,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: plain openpty with out-pointers to locals.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &ws,
            )
        };
        assert_eq!(rc, 0, "openpty failed");
        // SAFETY: openpty returned two fresh descriptors we now own.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let mut cmd = Command::new(bin());
        cmd.arg("repl")
            .args(args)
            .env("OPENCLAW_HISTORY", history)
            .env("TERM", "xterm")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        use std::os::unix::process::CommandExt;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let master = std::fs::File::from(master);
        let out = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let (lock, cv) = &*sink;
                lock.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
                cv.notify_all();
            }
        });
        Term {
            child,
            master,
            out,
            seen: 0,
        }
    }

    fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
    }

    /// Waits until `text` appears after what earlier calls consumed; returns the output
    /// up to and including it.
    fn expect(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let (lock, cv) = &*self.out;
        let mut out = lock.lock().unwrap();
        loop {
            if let Some(i) = out[self.seen..].find(text) {
                let got = out[self.seen..self.seen + i + text.len()].to_string();
                self.seen += i + text.len();
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {text:?}; output so far:\n{}",
                &out[self.seen..]
            );
            out = cv.wait_timeout(out, left).unwrap().0;
        }
    }

    fn quit(mut self) {
        self.send(":quit\r");
        let status = self.child.wait().unwrap();
        assert!(status.success());
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn terminal_session_edits_completes_continues_and_remembers() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    let mut t = Term::start(&history, &[]);
    t.expect("Lua REPL");
    t.expect("> ");
    // Expressions print their values.
    t.send("40 + 2\r");
    t.expect("\n42");
    // Line editing: type, move left over "XX", delete it, finish the line.
    t.expect("> ");
    t.send("1 + 2XX\x1b[D\x1b[D\x1b[3~\x1b[3~ * 10\r");
    t.expect("\n21");
    // Tab completes a unique field name.
    t.expect("> ");
    t.send("ngx.re.gs\t");
    t.expect("ngx.re.gsub");
    t.send("(\"hello\", \"l\", \"L\")\r");
    t.expect("\"heLLo\"\t2");
    // Multi-line input continues with ">> " while the chunk is unfinished.
    t.expect("> ");
    t.send("function double(x)\r");
    t.expect(">> ");
    t.send("return x * 2\r");
    t.expect(">> ");
    t.send("end\r");
    t.expect("> ");
    t.send("double(21)\r");
    t.expect("\n42");
    // An error prints its message and traceback; the session goes on.
    t.expect("> ");
    t.send("error(\"oops\")\r");
    t.expect("stdin:1: oops");
    t.expect("stack traceback:");
    t.expect("> ");
    t.send("ngx.say(\"x\")\r");
    t.expect("no request: use :req");
    t.expect("> ");
    // Up arrow recalls earlier lines.
    t.send("\x1b[A\x1b[A\r");
    t.expect("stdin:1: oops");
    t.expect("> ");
    t.quit();
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(saved.contains("40 + 2"), "{saved}");
    assert!(saved.contains("double(21)"), "{saved}");

    // A new session starts with the saved history: Up shows the last entry, Ctrl-R finds
    // an older one.
    let mut t = Term::start(&history, &[]);
    t.expect("> ");
    t.send("\x1b[A");
    t.expect(":quit");
    t.send("\x1b[B\x1240 +");
    t.expect("40 + 2");
    t.send("\r");
    t.expect("\n42");
    t.expect("> ");
    t.quit();
}

fn prefix_with_conf(conf: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    std::fs::write(dir.path().join("conf/openclaw.conf"), conf).unwrap();
    dir
}

fn piped(prefix: &std::path::Path, input: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(bin())
        .args(["repl", "-p"])
        .arg(prefix)
        .args(["-c", "conf/openclaw.conf"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const CONF: &str = r#"events {}
http {
    lua_package_path "$prefix/mods/?.lua;;";
    lua_shared_dict d 1m;
    init_by_lua_block { ngx.shared.d:set("boot", "yes") }
    server {
        listen 127.0.0.1:8080;
        location /hi {
            add_header X-Hi 1;
            content_by_lua_block {
                ngx.log(ngx.ERR, "saw ", ngx.req.get_method(), " ", ngx.var.arg_a)
                ngx.req.read_body()
                ngx.say("boot=", ngx.shared.d:get("boot"), " set=", ngx.shared.d:get("k"),
                    " body=", ngx.req.get_body_data() or "", " h=", ngx.var.http_x_t or "")
            }
        }
        location = /ret { return 302 /elsewhere; }
    }
}
"#;

#[test]
fn req_runs_the_pipeline_in_process_with_the_repl_state() {
    let dir = prefix_with_conf(CONF);
    std::fs::write(
        dir.path().join("extra.lua"),
        "loaded_value = 7\nreturn 'loaded'\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("mods")).unwrap();
    std::fs::write(
        dir.path().join("mods/mymod.lua"),
        "return { v = 'from $prefix' }\n",
    )
    .unwrap();
    let input = format!(
        "require('mymod').v\nngx.shared.d:get(\"boot\")\nngx.shared.d:set(\"k\", \"from-repl\")\n:req /hi?a=1\n:req PUT /hi -H 'X-T: tv' -d payload\n:phases /hi\n:req /ret\n:load {}\nloaded_value\nmine = 1\n:reload\nmine\n:req\n:nope\n",
        dir.path().join("extra.lua").display()
    );
    let (code, out, err) = piped(dir.path(), &input);
    assert_eq!(
        code,
        Some(1),
        "failed commands make a piped session fail\n{out}\n{err}"
    );
    let expected_start = "\"from $prefix\"\n\"yes\"\ntrue\tnil\tfalse\nHTTP/1.1 200 OK\n";
    assert!(out.starts_with(expected_start), "{out}");
    assert!(
        out.contains("\nServer: openclaw/")
            && out.contains(
                "\nContent-Type: text/plain\nContent-Length: 32\nConnection: close\nX-Hi: 1\n"
            ),
        "{out}"
    );
    assert!(
        out.contains("\nboot=yes set=from-repl body= h=\n-- error.log --\n"),
        "{out}"
    );
    assert!(
        out.contains("[error]")
            && out.contains("content_by_lua(openclaw.conf:10):2: saw GET 1, client: 127.0.0.1"),
        "{out}"
    );
    assert!(
        out.contains("boot=yes set=from-repl body=payload h=tv\n"),
        "{out}"
    );
    assert!(out.contains("saw PUT nil"), "{out}");
    assert!(out.contains("location: /hi\n"), "{out}");
    assert!(
        out.contains("content:       content_by_lua(openclaw.conf:10)\n"),
        "{out}"
    );
    assert!(out.contains("header_filter: add_header (1)\n"), "{out}");
    assert!(out.contains("HTTP/1.1 302 Moved Temporarily\n"), "{out}");
    assert!(
        out.contains("ocation: http://localhost:8080/elsewhere\n"),
        "{out}"
    );
    assert!(out.contains("\"loaded\"\n7\n"), "{out}");
    // :reload starts a fresh VM: the global is gone.
    assert!(
        out.contains("reloaded (a fresh VM: globals start over)\nnil\n"),
        "{out}"
    );
    assert!(err.contains("usage: :req [METHOD] PATH"), "{err}");
    assert!(err.contains("unknown command :nope"), "{err}");
}

#[test]
fn reload_keeps_the_old_configuration_when_the_new_one_is_broken() {
    let dir = prefix_with_conf(CONF);
    let conf = dir.path().join("conf/openclaw.conf");
    let (code, out, err) = piped(
        dir.path(),
        &format!(
            ":req /hi\nlocal f = io.open({:?}, 'w') f:write('events {{}} http {{ bogus; }}') f:close()\n:reload\n:req /hi\n",
            conf.display().to_string()
        ),
    );
    // io.open at the prompt rewrote the file: the reload fails, requests still work.
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        err.contains("reload failed, the old configuration stays: unknown directive \"bogus\""),
        "{err}"
    );
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
}

#[test]
fn commands_that_need_a_configuration_say_so() {
    let mut child = Command::new(bin())
        .arg("repl")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b":req /\nngx.var.uri\n1\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no configuration loaded: start with openclaw repl -c CONF"),
        "{err}"
    );
    assert!(err.contains("no request: use :req"), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    assert_eq!(out.status.code(), Some(1));
}
