//! A tokio server for tests, on a thread of its own (a current-thread runtime): listens on
//! 127.0.0.1:0, hands each accepted connection to its own task, stops and joins on drop.

use std::future::Future;
use std::net::SocketAddr;

pub struct TokioServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokioServer {
    /// Starts serving each connection with `serve`.
    pub fn start<F, Fut>(serve: F) -> TokioServer
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(l.local_addr().unwrap()).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut stopped => return,
                        Ok((s, _)) = l.accept() => {
                            tokio::spawn(serve(s));
                        }
                    }
                }
            });
        });
        TokioServer {
            addr: rx.recv().unwrap(),
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for TokioServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
