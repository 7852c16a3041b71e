//! The response body the server sends (ours for HTTP/1, hyper for HTTP/2). It counts bytes sent and writes the access log line
//! when the response is done (or the client went away).

use crate::observe::format_access_line;
use crate::pipeline::{Body, RequestCtx};
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};

const CHUNK: usize = 64 * 1024;

pub struct OutBody {
    body: Body,
    ctx: Option<Box<RequestCtx>>,
}

impl OutBody {
    pub fn new(body: Body, ctx: Box<RequestCtx>) -> OutBody {
        OutBody {
            body,
            ctx: Some(ctx),
        }
    }

    /// No body and no request: the request lives on elsewhere.
    pub fn empty() -> OutBody {
        OutBody {
            body: Body::Empty,
            ctx: None,
        }
    }

    /// The response head went out: `n` bytes (for `$bytes_sent`).
    pub fn count_head(&self, n: usize) {
        if let Some(c) = &self.ctx {
            c.head_bytes_sent.set(n as u64);
        }
    }

    fn count(&self, n: usize) {
        if let Some(c) = &self.ctx {
            c.body_bytes_sent.set(c.body_bytes_sent.get() + n as u64);
        }
    }
}

impl hyper::body::Body for OutBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        match &mut this.body {
            Body::Empty => Poll::Ready(None),
            Body::Stream(s) => {
                let r = s.as_mut().poll_frame(cx);
                if let Poll::Ready(Some(Ok(f))) = &r {
                    if let Some(d) = f.data_ref() {
                        this.count(d.len());
                    }
                }
                r
            }
            Body::Full(b) => {
                let data = std::mem::take(b);
                this.body = Body::Empty;
                if data.is_empty() {
                    return Poll::Ready(None);
                }
                this.count(data.len());
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Body::File { file, remaining } => {
                if *remaining == 0 {
                    this.body = Body::Empty;
                    return Poll::Ready(None);
                }
                // A blocking read of a page-cached file, as nginx does without aio.
                let n = (*remaining).min(CHUNK as u64) as usize;
                let mut buf = vec![0u8; n];
                match file.read(&mut buf) {
                    Ok(0) => {
                        this.body = Body::Empty;
                        Poll::Ready(Some(Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "file truncated while sending",
                        ))))
                    }
                    Ok(got) => {
                        buf.truncate(got);
                        *remaining -= got as u64;
                        this.count(got);
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
                    }
                    Err(e) => {
                        this.body = Body::Empty;
                        Poll::Ready(Some(Err(e)))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.body {
            Body::Empty => true,
            Body::Full(b) => b.is_empty(),
            Body::File { remaining, .. } => *remaining == 0,
            Body::Stream(s) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.body {
            Body::Stream(s) => s.size_hint(),
            b => SizeHint::with_exact(b.len()),
        }
    }
}

impl Drop for OutBody {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            log_phase(ctx);
        }
    }
}

/// The log phase, once the response is sent (or the client went away): `log_by_lua*`
/// then the access log lines. With a LocalSet to run on, the Lua handler runs as a task
/// and may yield (cosockets, `ngx.sleep`); elsewhere it runs at once and cannot.
pub fn log_phase(mut ctx: Box<RequestCtx>) {
    // (The engine's Arc is cloned only for a location with a log handler.)
    let lua = match (&ctx.conf.lua.log, &ctx.gen.engine) {
        (Some(chunk), Some(engine)) => Some((chunk.clone(), engine.clone())),
        _ => None,
    };
    let Some((chunk, engine)) = lua else {
        write_access_log(&mut ctx);
        return;
    };
    if !crate::pipeline::can_spawn_background() {
        engine.run_sync(crate::pipeline::Phase::Log, &chunk, &mut ctx, None);
        write_access_log(&mut ctx);
        return;
    }
    crate::pipeline::spawn_background(async move {
        let _ = engine
            .run(crate::pipeline::Phase::Log, &chunk, &mut ctx)
            .await;
        write_access_log(&mut ctx);
    });
}

/// The access log lines of the request: one per `access_log` of the location.
pub fn write_access_log(ctx: &mut RequestCtx) {
    for spec in ctx.conf.access_logs.iter() {
        if let Some(f) = ctx.gen.log_files.get(spec.file) {
            let line = format_access_line(&spec.format, ctx);
            f.write_line(&line);
        }
    }
}
