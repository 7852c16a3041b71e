//! Running the gateway (`openclaw`), testing a config (`-t`) and signalling a running
//! instance (`-s`).

use super::Args;
use crate::config::{self, Config, LoadOptions, LogTarget};
use crate::observe::{init_error_log, log, reopen_error_log, Level, LogFile};
use crate::server::{self, Command, Listeners, Workers};
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::sync::Arc;

fn load_opts(args: &Args) -> LoadOptions {
    LoadOptions {
        prefix: args.prefix.clone(),
        conf_file: args.conf.clone(),
        globals: args.globals.clone(),
        error_log: args.error_log.clone(),
    }
}

fn load(args: &Args) -> crate::error::Result<Config> {
    config::load(&load_opts(args))
}

/// Prints an emergency line to stderr the way nginx does.
fn emerg(msg: &str) {
    eprintln!("openclaw: [emerg] {msg}");
}

/// Records a fatal start-up error in the error log (when it can be opened) and stderr.
fn fatal(args: &Args, msg: &str) {
    emerg(msg);
    let target = match args.error_log.as_deref() {
        Some("stderr") => return,
        Some(p) => LogTarget::File(args.prefix.join(p)),
        None => crate::observe::error_log()
            .unwrap_or_else(|| LogTarget::File(args.prefix.join("logs/error.log"))),
    };
    if target != LogTarget::Stderr && init_error_log(&target, Level::Emerg).is_ok() {
        log(Level::Emerg, msg, None);
    }
}

pub fn test_config(args: &Args, dump: bool) -> i32 {
    let file = args.conf.display();
    // Like nginx -t with lua-nginx-module, init_by_lua runs as part of the test.
    let loaded = load(args).and_then(|cfg| {
        crate::lua::LuaEngine::for_config(&cfg)?;
        Ok(cfg)
    });
    match loaded {
        Ok(cfg) => {
            for n in &cfg.notices {
                eprintln!("openclaw: [notice] {n}");
            }
            if !args.quiet {
                eprintln!("openclaw: the configuration file {file} syntax is ok");
                eprintln!("openclaw: configuration file {file} test is successful");
            }
            if dump {
                println!("# configuration file {file}:");
                if let Ok(text) = std::fs::read_to_string(&args.conf) {
                    print!("{text}");
                }
            }
            0
        }
        Err(e) => {
            emerg(&e.to_string());
            eprintln!("openclaw: configuration file {file} test failed");
            1
        }
    }
}

pub fn send_signal(args: &Args, name: &str) -> i32 {
    let cfg = match load(args) {
        Ok(c) => c,
        Err(e) => {
            emerg(&e.to_string());
            return 1;
        }
    };
    let path = &cfg.main.pid;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "openclaw: [error] open() \"{}\" failed ({}: {})",
                path.display(),
                e.raw_os_error().unwrap_or(0),
                crate::error::strerror(&e)
            );
            return 1;
        }
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        eprintln!(
            "openclaw: [error] invalid PID number \"{}\" in \"{}\"",
            text.trim(),
            path.display()
        );
        return 1;
    };
    let sig = match name {
        "stop" => libc::SIGTERM,
        "quit" => libc::SIGQUIT,
        "reopen" => libc::SIGUSR1,
        _ => libc::SIGHUP,
    };
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } != 0 {
        let e = std::io::Error::last_os_error();
        eprintln!(
            "openclaw: [alert] kill({pid}, {sig}) failed ({}: {})",
            e.raw_os_error().unwrap_or(0),
            crate::error::strerror(&e)
        );
        return 1;
    }
    0
}

/// Forks into the background. The parent waits until the child reports that it is serving
/// (sockets bound, pid file written) and exits with its verdict.
fn daemonize() -> std::io::Result<std::fs::File> {
    let mut fds = [0i32; 2];
    // SAFETY: fds is a valid two-int array; pipe fills it.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: no other thread exists yet (runtimes start after this), so fork is sound.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            // SAFETY: closing our copy of the read end; fds[1] becomes owned by the File.
            unsafe {
                libc::close(fds[0]);
                libc::setsid();
                Ok(std::fs::File::from_raw_fd(fds[1]))
            }
        }
        _ => {
            // SAFETY: closing the parent's copy of the write end, then owning the read end.
            let mut r = unsafe {
                libc::close(fds[1]);
                std::fs::File::from_raw_fd(fds[0])
            };
            let mut b = [0u8; 1];
            let code = match r.read(&mut b) {
                Ok(1) if b[0] == b'0' => 0,
                _ => 1,
            };
            std::process::exit(code);
        }
    }
}

/// Points stdin/stdout (and stderr unless the error log is stderr) at /dev/null.
fn detach_stdio(keep_stderr: bool) {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        let fd = null.as_raw_fd();
        // SAFETY: dup2 onto the standard descriptors with a valid open fd.
        unsafe {
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            if !keep_stderr {
                libc::dup2(fd, 2);
            }
        }
    }
}

/// Writes the pid file atomically (temp file + rename), so readers never see it empty.
fn write_pid(path: &std::path::Path) -> std::io::Result<()> {
    let tmp = path.with_extension("pid.tmp");
    std::fs::write(&tmp, format!("{}\n", std::process::id()))?;
    std::fs::rename(&tmp, path)
}

struct Running {
    args: Args,
    current: server::Current,
    listeners: Listeners,
    workers: Workers,
    nworkers: usize,
    generation: u64,
}

pub fn run(args: &Args) -> i32 {
    let cfg = match load(args) {
        Ok(c) => c,
        Err(e) => {
            fatal(args, &e.to_string());
            return 1;
        }
    };
    let mut ready = if cfg.main.daemon {
        match daemonize() {
            Ok(f) => Some(f),
            Err(e) => {
                fatal(args, &format!("fork() failed ({e})"));
                return 1;
            }
        }
    } else {
        None
    };
    let fail = |ready: &mut Option<std::fs::File>, msg: &str| {
        fatal(args, msg);
        if let Some(f) = ready.as_mut() {
            let _ = f.write_all(b"1");
        }
        1
    };
    if let Err(e) = init_error_log(&cfg.main.error_log, cfg.main.error_level) {
        let path = match &cfg.main.error_log {
            LogTarget::File(p) => p.display().to_string(),
            LogTarget::Stderr => "stderr".into(),
        };
        return fail(
            &mut ready,
            &format!(
                "open() \"{path}\" failed ({}: {})",
                e.raw_os_error().unwrap_or(0),
                crate::error::strerror(&e)
            ),
        );
    }
    for n in &cfg.notices {
        log(Level::Notice, n, None);
    }
    let keep_stderr = cfg.main.error_log == LogTarget::Stderr;
    let nworkers = cfg.main.worker_processes;
    let pid_path = cfg.main.pid.clone();
    let cfg = Arc::new(cfg);
    let current = match server::first_generation(cfg.clone()) {
        Ok(c) => c,
        Err(e) => return fail(&mut ready, &e.to_string()),
    };
    let mut listeners = Listeners::default();
    let added = match listeners.sync(&cfg, nworkers) {
        Ok((added, _)) => added,
        Err(e) => return fail(&mut ready, &e.to_string()),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&mut ready, &format!("cannot start runtime: {e}")),
    };
    let workers = match Workers::start(nworkers, current.clone()) {
        Ok(w) => w,
        Err(e) => return fail(&mut ready, &format!("cannot start workers: {e}")),
    };
    let mut st = Running {
        args: args.clone(),
        current,
        listeners,
        workers,
        nworkers,
        generation: 1,
    };
    if let Err(msg) = st.hand_out(&added) {
        return fail(&mut ready, &msg);
    }
    st.workers.send_all(|| Command::Warm);
    // ACME runs on a thread of its own, started here: after the fork, never for `-t`.
    sync_acme(&cfg);
    let code = rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let sigs = (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::quit()),
            signal(SignalKind::user_defined1()),
        );
        let (Ok(mut hup), Ok(mut term), Ok(mut int), Ok(mut quit), Ok(mut usr1)) = sigs else {
            return fail(&mut ready, "cannot install signal handlers");
        };
        if let Err(e) = write_pid(&pid_path) {
            return fail(
                &mut ready,
                &format!(
                    "open() \"{}\" failed ({}: {})",
                    pid_path.display(),
                    e.raw_os_error().unwrap_or(0),
                    crate::error::strerror(&e)
                ),
            );
        }
        log(
            Level::Notice,
            &format!(
                "openclaw/{} started, {} worker threads",
                crate::VERSION,
                nworkers
            ),
            None,
        );
        if let Some(mut f) = ready.take() {
            let _ = f.write_all(b"0");
            detach_stdio(keep_stderr);
        }
        let graceful = loop {
            tokio::select! {
                _ = hup.recv() => st.reload(),
                _ = usr1.recv() => st.reopen(),
                _ = term.recv() => break false,
                _ = int.recv() => break false,
                _ = quit.recv() => break true,
            }
        };
        log(
            Level::Notice,
            if graceful {
                "gracefully shutting down"
            } else {
                "exiting"
            },
            None,
        );
        st.workers.stop(graceful);
        // Queued cache writes reach the disk before the exit: all of them on a graceful
        // stop (bounded), what a second allows on a fast one.
        crate::cache::flush_all(std::time::Duration::from_secs(if graceful {
            10
        } else {
            1
        }));
        let _ = std::fs::remove_file(&pid_path);
        log(Level::Notice, "exit", None);
        0
    });
    code
}

/// Hands the configuration's managed certificates to the ACME manager (one task per
/// issuer and names, kept across reloads).
fn sync_acme(cfg: &Config) {
    match cfg.http.as_ref() {
        Some(h) => crate::tls::acme::sync(&h.acme, &h.acme_on_demand),
        None => crate::tls::acme::sync(&[], &[]),
    }
}

impl Running {
    /// Gives each worker its socket for every newly bound address.
    fn hand_out(&self, added: &[std::net::SocketAddr]) -> Result<(), String> {
        let gen = self.current.load();
        let http2_of = |a: &std::net::SocketAddr| {
            gen.config
                .http
                .as_ref()
                .and_then(|h| h.sockets.iter().find(|s| s.addr == *a))
                .is_some_and(|s| s.http2)
        };
        for addr in added {
            let Some(b) = self.listeners.bound.get(addr) else {
                continue;
            };
            for (i, tx) in self.workers.senders.iter().enumerate() {
                let sock = b.sockets[i]
                    .try_clone()
                    .map_err(|e| format!("dup() failed ({e})"))?;
                let _ = tx.send(Command::Listen {
                    listen: *addr,
                    socket: sock,
                    http2: http2_of(addr),
                });
            }
        }
        Ok(())
    }

    fn reload(&mut self) {
        log(
            Level::Notice,
            "signal 1 (SIGHUP) received, reconfiguring",
            None,
        );
        let cfg = match load(&self.args) {
            Ok(c) => c,
            Err(e) => {
                log(Level::Emerg, &e.to_string(), None);
                log(
                    Level::Notice,
                    "reload failed, the previous configuration keeps serving",
                    None,
                );
                return;
            }
        };
        if cfg.main.worker_processes != self.nworkers {
            log(
                Level::Notice,
                "a changed \"worker_processes\" takes effect on restart only",
                None,
            );
        }
        let cfg = Arc::new(cfg);
        let gen = match server::generation(self.generation + 1, cfg.clone()) {
            Ok(g) => g,
            Err(e) => {
                log(Level::Emerg, &e.to_string(), None);
                return;
            }
        };
        // Addresses kept across the reload whose `http2` flag changed get their accept
        // loops replaced (same sockets, new protocol choice).
        let old_gen = self.current.load_full();
        let flag_of = |c: &Config, a: &std::net::SocketAddr| {
            c.http
                .as_ref()
                .and_then(|h| h.sockets.iter().find(|s| s.addr == *a))
                .map(|s| s.http2)
        };
        let changed: Vec<std::net::SocketAddr> = cfg
            .http
            .as_ref()
            .map(|h| {
                h.sockets
                    .iter()
                    .filter(|s| flag_of(&old_gen.config, &s.addr).is_some_and(|old| old != s.http2))
                    .map(|s| s.addr)
                    .collect()
            })
            .unwrap_or_default();
        drop(old_gen);
        let (added, removed) = match self.listeners.sync(&cfg, self.nworkers) {
            Ok(x) => x,
            Err(e) => {
                log(Level::Emerg, &e.to_string(), None);
                return;
            }
        };
        if let Err(e) = init_error_log(&cfg.main.error_log, cfg.main.error_level) {
            log(
                Level::Alert,
                &format!("cannot reopen the error log: {e}"),
                None,
            );
        }
        for n in &cfg.notices {
            log(Level::Notice, n, None);
        }
        self.generation += 1;
        crate::server::publish(&self.current, Arc::new(gen));
        sync_acme(&cfg);
        self.workers.send_all(|| Command::Warm);
        if let Err(e) = self.hand_out(&added) {
            log(Level::Alert, &e, None);
        }
        if let Err(e) = self.hand_out(&changed) {
            log(Level::Alert, &e, None);
        }
        for a in &removed {
            self.workers.send_all(|| Command::Unlisten(*a));
        }
        self.listeners.forget(&removed);
        log(
            Level::Notice,
            &format!("configuration generation {} is serving", self.generation),
            None,
        );
    }

    fn reopen(&self) {
        log(
            Level::Notice,
            "signal 10 (SIGUSR1) received, reopening logs",
            None,
        );
        self.workers.flush();
        LogFile::reopen_all();
        reopen_error_log();
    }
}
