//! mcpulse's own HTTP telemetry: a middleware counts requests, 5xx errors and response time, and a listener wrapper
//! counts open TCP connections. The `self` source reads these counters every collection interval.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Default)]
pub struct HttpTelemetry {
    requests: AtomicU64,
    errors: AtomicU64,
    /// Response time sum (µs) and count since the last [`HttpTelemetry::take_interval`].
    interval_micros: AtomicU64,
    interval_count: AtomicU64,
    connections: AtomicI64,
}

/// What the `self` source reads each round.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpReading {
    pub requests_total: u64,
    pub errors_total: u64,
    /// Mean response time of the requests finished since the previous reading; `None` if there were none.
    pub response_time_ms: Option<f64>,
    pub active_connections: i64,
}

impl HttpTelemetry {
    pub fn record(&self, status: u16, elapsed: std::time::Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.interval_micros.fetch_add(
            elapsed.as_micros().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
        self.interval_count.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads the counters without starting a new interval.
    pub fn totals(&self) -> HttpReading {
        HttpReading {
            requests_total: self.requests.load(Ordering::Relaxed),
            errors_total: self.errors.load(Ordering::Relaxed),
            response_time_ms: None,
            active_connections: self.connections.load(Ordering::Relaxed),
        }
    }

    /// Reads the counters and starts a new response-time interval.
    pub fn take_interval(&self) -> HttpReading {
        let count = self.interval_count.swap(0, Ordering::Relaxed);
        let micros = self.interval_micros.swap(0, Ordering::Relaxed);
        HttpReading {
            requests_total: self.requests.load(Ordering::Relaxed),
            errors_total: self.errors.load(Ordering::Relaxed),
            response_time_ms: (count > 0).then(|| micros as f64 / count as f64 / 1000.0),
            active_connections: self.connections.load(Ordering::Relaxed),
        }
    }
}

/// Axum middleware recording every request. It also hands the client address to server functions as
/// [`app::engine::ClientIp`].
pub async fn track(
    State(telemetry): State<Arc<HttpTelemetry>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<PeerAddr>>()
        .map(|c| c.0 .0.ip());
    if let Some(ip) = peer {
        request.extensions_mut().insert(app::engine::ClientIp(ip));
    }
    let response = next.run(request).await;
    telemetry.record(response.status().as_u16(), started.elapsed());
    response
}

/// A TCP listener whose connections count themselves in [`HttpTelemetry`] while open.
pub struct CountingListener {
    inner: TcpListener,
    telemetry: Arc<HttpTelemetry>,
}

impl CountingListener {
    pub fn new(inner: TcpListener, telemetry: Arc<HttpTelemetry>) -> Self {
        CountingListener { inner, telemetry }
    }
}

impl axum::serve::Listener for CountingListener {
    type Io = CountedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        self.telemetry.connections.fetch_add(1, Ordering::Relaxed);
        (
            CountedStream {
                inner: stream,
                telemetry: self.telemetry.clone(),
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The peer address of a connection accepted by [`CountingListener`].
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, CountingListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, CountingListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

pub struct CountedStream {
    inner: TcpStream,
    telemetry: Arc<HttpTelemetry>,
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.telemetry.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Resident set size of this process in bytes (Linux `/proc/self/statm`).
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()? as u64;
    Some(pages * page_size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn response_time_is_averaged_per_interval() {
        let t = HttpTelemetry::default();
        t.record(200, Duration::from_millis(10));
        t.record(503, Duration::from_millis(30));
        let r = t.take_interval();
        assert_eq!(
            (r.requests_total, r.errors_total, r.response_time_ms),
            (2, 1, Some(20.0))
        );
        let r = t.take_interval();
        assert_eq!(
            (r.requests_total, r.response_time_ms),
            (2, None),
            "a quiet interval has no mean"
        );
    }

    #[test]
    fn rss_is_readable() {
        assert!(resident_memory_bytes().unwrap_or(0) > 1024 * 1024);
    }
}
