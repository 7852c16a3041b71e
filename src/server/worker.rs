//! Worker threads: each runs a current-thread tokio runtime with a LocalSet, owns one
//! socket per listen address, and takes commands from the main thread.

use super::conn::{serve, ConnParams, LiveGuard, Tracker};
use super::Current;
use crate::observe::{flush_access_logs, log, set_worker_id, Level};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What the main thread asks a worker to do.
pub enum Command {
    /// Start accepting on a socket (`listen` is the configured address).
    Listen {
        listen: SocketAddr,
        socket: TcpListener,
        http2: bool,
    },
    /// Stop accepting on an address dropped by a reload.
    Unlisten(SocketAddr),
    /// Flush access logs, then acknowledge (the main thread reopens files after).
    Flush(std::sync::mpsc::Sender<()>),
    /// A generation started serving: prepare this worker for it (script VMs).
    Warm,
    /// Stop: finish in-flight requests first when graceful, within the timeout.
    Stop { graceful: bool },
}

pub struct Workers {
    pub senders: Vec<mpsc::UnboundedSender<Command>>,
    handles: Vec<JoinHandle<()>>,
}

/// How long a graceful stop waits for in-flight requests.
const GRACEFUL_LIMIT: Duration = Duration::from_secs(10);

impl Workers {
    pub fn start(n: usize, current: Current) -> std::io::Result<Workers> {
        let mut senders = vec![];
        let mut handles = vec![];
        for id in 0..n {
            let (tx, rx) = mpsc::unbounded_channel();
            let current = current.clone();
            let h = std::thread::Builder::new()
                .name(format!("openclaw-worker-{id}"))
                .spawn(move || run(id + 1, current, rx))?;
            senders.push(tx);
            handles.push(h);
        }
        Ok(Workers { senders, handles })
    }

    pub fn send_all(&self, mk: impl Fn() -> Command) {
        for s in &self.senders {
            let _ = s.send(mk());
        }
    }

    /// Makes every worker write out its buffered access log lines; waits (bounded) for all.
    pub fn flush(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        self.send_all(|| Command::Flush(tx.clone()));
        drop(tx);
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        for _ in 0..self.senders.len() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if rx.recv_timeout(left).is_err() {
                break;
            }
        }
    }

    /// Stops every worker and waits for the threads to end.
    pub fn stop(self, graceful: bool) {
        self.send_all(|| Command::Stop { graceful });
        for h in self.handles {
            let _ = h.join();
        }
    }
}

fn run(id: usize, current: Current, mut rx: mpsc::UnboundedReceiver<Command>) {
    set_worker_id(id);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log(
                Level::Emerg,
                &format!("worker {id}: cannot start runtime: {e}"),
                None,
            );
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        crate::pipeline::allow_background(true);
        super::keep_latest(true);
        let (stop_tx, stop_rx) = watch::channel(false);
        let tracker = Tracker::default();
        let mut accepts: HashMap<SocketAddr, tokio::task::JoinHandle<()>> = HashMap::new();
        let mut flush = tokio::time::interval(Duration::from_secs(1));
        let graceful = loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Command::Listen { listen, socket, http2 }) => {
                        let l = match tokio::net::TcpListener::from_std(socket) {
                            Ok(l) => l,
                            Err(e) => {
                                log(Level::Alert, &format!("cannot register listener {listen}: {e}"), None);
                                continue;
                            }
                        };
                        let params = (current.clone(), stop_rx.clone(), tracker.clone());
                        let h = tokio::task::spawn_local(accept_loop(l, listen, http2, params));
                        if let Some(old) = accepts.insert(listen, h) {
                            old.abort();
                        }
                    }
                    Some(Command::Unlisten(addr)) => {
                        if let Some(h) = accepts.remove(&addr) {
                            h.abort();
                        }
                    }
                    Some(Command::Warm) => {
                        // A reload: the worker's copy of the generation is renewed now, not
                        // at the next request (the old one's health checks stop when it is
                        // dropped).
                        if let Some(engine) = super::latest(&current).engine.clone() {
                            engine.warm();
                        }
                    }
                    Some(Command::Flush(ack)) => {
                        flush_access_logs();
                        let _ = ack.send(());
                    }
                    Some(Command::Stop { graceful }) => break graceful,
                    None => break false,
                },
                _ = flush.tick() => flush_access_logs(),
            }
        };
        for (_, h) in accepts.drain() {
            h.abort();
        }
        if let Some(engine) = current.load().engine.clone() {
            engine.exit_worker();
        }
        if graceful {
            let _ = stop_tx.send(true);
            super::reuse::stop_all();
            let wait = async {
                while tracker.live.get() > 0 {
                    let notified = tracker.idle.notified();
                    if tracker.live.get() == 0 {
                        break;
                    }
                    notified.await;
                }
            };
            let _ = tokio::time::timeout(GRACEFUL_LIMIT, wait).await;
        }
        // Log phases still running (a log_by_lua shipping its line) get the same bound.
        let _ = tokio::time::timeout(GRACEFUL_LIMIT, crate::pipeline::background_done()).await;
        crate::pipeline::allow_background(false);
        super::keep_latest(false);
        flush_access_logs();
    });
}

/// Whether a new connection fits in `worker_connections` (client connections and
/// listening sockets), after closing idle kept-alive ones if it must (`reuse`).
fn room_for_one_more(current: &Current, tracker: &Tracker) -> bool {
    let gen = current.load();
    let limit = gen.config.main.worker_connections;
    let listeners = gen.config.http.as_ref().map_or(0, |h| h.sockets.len());
    if tracker.live.get() + listeners < limit || super::reuse::make_room(limit) {
        return true;
    }
    log(
        Level::Alert,
        &format!("{limit} worker_connections are not enough"),
        None,
    );
    false
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    listen: SocketAddr,
    http2: bool,
    (current, shutdown, tracker): (Current, watch::Receiver<bool>, Tracker),
) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                if !room_for_one_more(&current, &tracker) {
                    // Refused: closed as accepted, as nginx does.
                    drop(stream);
                    continue;
                }
                let p = ConnParams {
                    current: current.clone(),
                    listen,
                    http2,
                    shutdown: shutdown.clone(),
                    tracker: tracker.clone(),
                    client: None,
                    // Counted from now: a burst of accepts runs before their tasks do.
                    live: Some(LiveGuard::count(&tracker)),
                };
                tokio::task::spawn_local(serve(stream, remote, p));
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                log(Level::Alert, &format!("accept() failed ({e})"), None);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
