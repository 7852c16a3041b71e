//! Test harness: starts the real `openclaw` binary on a temp prefix with ephemeral ports,
//! talks HTTP to it over real sockets, and stops it. Also runs Test::Nginx-style case files.
#![allow(dead_code)]

pub mod cases;
pub mod certs;
pub mod client;
pub mod dns;
pub mod tls;
pub mod tokio_server;
pub mod upstream;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_openclaw")
}

/// A running gateway in its own prefix, stopped on drop.
pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub pid: i32,
    /// Actual addresses for configured `ADDR:0` listens, in the order they were logged.
    pub addrs: Vec<std::net::SocketAddr>,
    stopped: bool,
}

/// A full config wrapped around server-level directives, like Test::Nginx does.
pub fn wrap(main: &str, http: &str, server: &str) -> String {
    format!(
        "worker_processes 2;\nerror_log logs/error.log debug;\npid logs/nginx.pid;\n{main}\nevents {{ worker_connections 64; }}\nhttp {{\n    access_log logs/access.log;\n{http}\n    server {{\n        listen 127.0.0.1:0;\n        server_name localhost;\n{server}\n    }}\n}}\n"
    )
}

impl Gateway {
    /// Starts with a server block holding `server` directives.
    pub fn start(server: &str) -> Gateway {
        Self::start_full(&wrap("", "", server), &[]).unwrap()
    }

    /// Starts with a whole config file; `files` are (path under prefix, contents).
    pub fn start_full(conf: &str, files: &[(String, String)]) -> Result<Gateway, String> {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, conf, files)
    }

    pub fn start_in(
        dir: tempfile::TempDir,
        conf: &str,
        files: &[(String, String)],
    ) -> Result<Gateway, String> {
        let p = dir.path();
        for sub in ["conf", "logs", "html"] {
            std::fs::create_dir_all(p.join(sub)).unwrap();
        }
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/mime.types"),
            p.join("conf/mime.types"),
        )
        .unwrap();
        for (path, content) in files {
            let f = p.join(path);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, content).unwrap();
        }
        std::fs::write(p.join("conf/openclaw.conf"), conf).unwrap();
        // daemon on: the command returns once every socket is bound and the pid is written.
        let out = Command::new(bin()).arg("-p").arg(p).output().unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let pid: i32 = std::fs::read_to_string(p.join("logs/nginx.pid"))
            .map_err(|e| format!("no pid file: {e}"))?
            .trim()
            .parse()
            .unwrap();
        let mut g = Gateway {
            dir,
            pid,
            addrs: vec![],
            stopped: false,
        };
        g.addrs = g.ephemeral_addrs();
        Ok(g)
    }

    pub fn prefix(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn ephemeral_addrs(&self) -> Vec<std::net::SocketAddr> {
        let log = self.error_log();
        let mut v = vec![];
        for line in log.lines() {
            if let Some(rest) = line.split("using the ephemeral port ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                let a = addr.parse().unwrap();
                if !v.contains(&a) {
                    v.push(a);
                }
            }
        }
        v
    }

    /// The first ephemeral listen address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addrs[0]
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.path("logs/error.log")).unwrap_or_default()
    }

    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.path("logs/access.log")).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.pid, sig);
        }
    }

    /// Sends `sig` and waits (up to `limit`) for the process to exit; true if it did.
    pub fn stop_with(&mut self, sig: i32, limit: Duration) -> bool {
        if self.stopped {
            return true;
        }
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, self.pid, 0) } as i32;
        self.signal(sig);
        if fd < 0 {
            // Already gone.
            self.stopped = true;
            return true;
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let rc = unsafe { libc::poll(&mut pfd, 1, limit.as_millis() as i32) };
        unsafe { libc::close(fd) };
        self.stopped = rc == 1;
        self.stopped
    }

    /// Fast stop (SIGTERM), waiting for the exit.
    pub fn stop(&mut self) {
        if !self.stop_with(libc::SIGTERM, Duration::from_secs(10)) {
            self.signal(libc::SIGKILL);
            panic!("openclaw did not stop on SIGTERM within 10 s");
        }
    }

    /// Runs `openclaw -p PREFIX` with extra args (e.g. `-s reload`).
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin())
            .arg("-p")
            .arg(self.prefix())
            .args(args)
            .output()
            .unwrap()
    }

    /// Polls the error log until `needle` appears (the only way to see a reload finish from
    /// outside, as with nginx); bounded by `limit`.
    pub fn wait_log(&self, needle: &str, limit: Duration) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if self.error_log().contains(needle) {
                return true;
            }
            std::thread::yield_now();
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if !self.stopped && !self.stop_with(libc::SIGTERM, Duration::from_secs(10)) {
            self.signal(libc::SIGKILL);
        }
    }
}
