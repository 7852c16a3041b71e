//! `grpc_pass`: an HTTP/2 client (h2c) through the gateway to an HTTP/2 upstream, with
//! the body streamed and the gRPC trailers passed back.

mod common;

use bytes::Bytes;
use common::tokio_server::TokioServer;
use common::Gateway;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A body of given frames (data, then trailers).
struct Frames(VecDeque<Frame<Bytes>>);

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().0.pop_front().map(Ok))
    }
    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// An HTTP/2 (h2c) upstream answering like a gRPC echo service: the request body back,
/// then `grpc-status: 0` and `grpc-message` in trailers (saying what `te` it got).
struct Upstream {
    server: TokioServer,
    conns: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Upstream {
    fn start() -> Upstream {
        let conns = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = conns.clone();
        let server = TokioServer::start(move |s| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                let svc = hyper::service::service_fn(|req: hyper::Request<Incoming>| async move {
                    let header = |name: &str| {
                        let v = req.headers().get(name).and_then(|v| v.to_str().ok());
                        v.unwrap_or("-").to_string()
                    };
                    let (te, ctype) = (header("te"), header("content-type"));
                    let path = req.uri().path().to_string();
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|c| c.to_bytes())
                        .unwrap_or_default();
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("grpc-status", "0".parse().unwrap());
                    trailers.insert(
                        "grpc-message",
                        format!("te={te} ct={ctype} path={path}").parse().unwrap(),
                    );
                    let frames = Frames(VecDeque::from([
                        Frame::data(body),
                        Frame::trailers(trailers),
                    ]));
                    let mut resp = hyper::Response::new(frames);
                    resp.headers_mut()
                        .insert("content-type", "application/grpc".parse().unwrap());
                    Ok::<_, Infallible>(resp)
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            }
        });
        Upstream { server, conns }
    }
}

#[test]
fn grpc_pass_carries_the_call_and_its_trailers() {
    let up = Upstream::start();
    let conf = common::wrap(
        "",
        "",
        &format!(
            "http2 on;\nlocation / {{ grpc_pass grpc://{}; grpc_read_timeout 5s; }}",
            up.server.addr
        ),
    );
    let gw = Gateway::start_full(&conf, &[]).unwrap();
    let addr = gw.addr();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake::<_, Full<Bytes>>(TokioIo::new(s))
            .await
            .unwrap();
        tokio::spawn(conn);
        // Two calls on one connection: the gateway keeps its upstream connection too.
        for msg in ["hello", "again"] {
            let mut payload = vec![0u8, 0, 0, 0, msg.len() as u8];
            payload.extend_from_slice(msg.as_bytes());
            let req = hyper::Request::builder()
                .method("POST")
                .uri("http://localhost/echo.Echo/Say")
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(Full::new(Bytes::from(payload.clone())))
                .unwrap();
            let resp = sender.send_request(req).await.unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["content-type"], "application/grpc");
            let collected = resp.into_body().collect().await.unwrap();
            let trailers = collected.trailers().cloned().expect("trailers");
            assert_eq!(collected.to_bytes(), Bytes::from(payload));
            assert_eq!(trailers["grpc-status"], "0");
            assert_eq!(
                trailers["grpc-message"],
                "te=trailers ct=application/grpc path=/echo.Echo/Say"
            );
        }
    });
    // Both calls went over one upstream connection (the same worker served them).
    assert_eq!(up.conns.load(std::sync::atomic::Ordering::SeqCst), 1);
}
