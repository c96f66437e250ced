//! The HTTP server: the router on hyper's HTTP/1 connections, bounded where `axum::serve` is
//! not. A client must send a request's headers within [`ConnectionLimits::header_read_timeout`]
//! of starting it, and an idle keep-alive connection is closed after that time too, so a client
//! that connects and stalls holds nothing for long. At most
//! [`ConnectionLimits::max_connections`] connections are served at once; more wait in the
//! listen backlog, so a flood of connections cannot take the file descriptors the gRPC server
//! needs. (The body of a push has its own timeout, in the handler.)
//!
//! Shutdown stops accepting, lets in-flight requests finish and closes idle connections.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, warn};

/// HTTP connections served at once, unless told otherwise (`serve --max-http-connections`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// How long a client may take to send a request's headers, or keep a connection idle.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait after accepting failed for a reason other than the peer (e.g. out of file
/// descriptors).
const ACCEPT_RETRY: Duration = Duration::from_secs(1);

/// What clients can make the HTTP server hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// The longest time a request's headers may take to arrive, and a connection may idle.
    pub header_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: HEADER_READ_TIMEOUT,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then drains: no new connection,
/// in-flight requests finish, idle connections close.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, permit) = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &permits) => match accepted {
                Some(accepted) => accepted,
                None => break,
            },
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%error, "HTTP connection ended with an error.");
            }
            drop(permit);
        });
    }
    drop(listener);
    connections.shutdown().await;
}

/// The next connection, once one of `permits` is free (`None` if they were closed).
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> Option<(TcpStream, OwnedSemaphorePermit)> {
    let permit = permits.clone().acquire_owned().await.ok()?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return Some((stream, permit)),
            // The peer gave up before it was accepted: nothing to do.
            Err(error) if peer_gone(&error) => {}
            Err(error) => {
                warn!(%error, "Accepting an HTTP connection failed; retrying.");
                tokio::time::sleep(ACCEPT_RETRY).await;
            }
        }
    }
}

fn peer_gone(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

#[cfg(test)]
mod tests;
