//! A fault-injecting TCP proxy between the scaler and a peer it calls (moto for SQS, Prometheus).
//!
//! Modes, switched at any time:
//! - [`Mode::Pass`]: bytes flow both ways;
//! - [`Mode::Refuse`]: the port is closed (connections are refused) and open connections are
//!   reset: the peer is down;
//! - [`Mode::Stall`]: connections are accepted and requests read, but nothing is forwarded or
//!   answered, on new and open connections alike: the peer hangs;
//! - [`Mode::Throttle`]: every HTTP request is answered at once with SQS's throttling error.
//!
//! Leaving a fault mode closes the connections it held, as a recovering load balancer would.
//! Shared by several test crates, each using a part of it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward.
    Pass,
    /// Connection refused.
    Refuse,
    /// Accept, never answer.
    Stall,
    /// Answer every request with a throttling error.
    Throttle,
}

/// The proxy; stops on drop.
pub struct FaultProxy {
    /// Where the scaler connects.
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    throttled: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on a free port of 127.0.0.1 forwarding to `upstream`, in [`Mode::Pass`].
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, modes) = watch::channel(Mode::Pass);
        let throttled = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(serve(listener, addr, upstream, modes, throttled.clone()));
        FaultProxy {
            addr,
            mode,
            throttled,
            task,
        }
    }

    /// The endpoint URL through the proxy.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches to `mode`.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// How many requests were answered with a throttling error.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(64)
}

async fn serve(
    listener: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    mut modes: watch::Receiver<Mode>,
    throttled: Arc<AtomicU64>,
) {
    let mut listener = Some(listener);
    loop {
        let mode = *modes.borrow_and_update();
        if mode == Mode::Refuse {
            // Close the port: connecting is refused until the mode changes.
            listener = None;
        } else if listener.is_none() {
            // The port was ours a moment ago; retry briefly if the kernel still holds it.
            for _ in 0..50 {
                if let Ok(reopened) = listen(addr) {
                    listener = Some(reopened);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let accept = async {
            match &listener {
                Some(listener) => listener.accept().await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            accepted = accept => {
                if let Some((client, _)) = accepted {
                    tokio::spawn(connection(client, upstream, modes.clone(), throttled.clone()));
                }
            }
            changed = modes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

async fn connection(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut modes: watch::Receiver<Mode>,
    throttled: Arc<AtomicU64>,
) {
    let mode = *modes.borrow_and_update();
    match mode {
        Mode::Pass => {
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
                _ = modes.wait_for(|m| *m != Mode::Pass) => {}
            }
            // A fault began while this connection was open.
            let fault = *modes.borrow();
            if fault == Mode::Stall {
                // Keep both ends open, forward nothing.
                let _ = modes.wait_for(|m| *m != Mode::Stall).await;
            }
            reset(client);
        }
        Mode::Refuse => reset(client),
        Mode::Stall => {
            let mut sink = [0u8; 4096];
            tokio::select! {
                _ = async { while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {} } => {}
                _ = modes.wait_for(|m| *m != Mode::Stall) => {}
            }
        }
        Mode::Throttle => {
            tokio::select! {
                _ = answer_throttled(&mut client, &throttled) => {}
                _ = modes.wait_for(|m| *m != Mode::Throttle) => {}
            }
        }
    }
}

/// Closes with a TCP reset rather than an orderly shutdown.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// SQS's answer to a throttled JSON-protocol request.
const THROTTLED_BODY: &str =
    r#"{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Request rate exceeded"}"#;

/// Reads HTTP/1.1 requests and answers each with a throttling error, until the client leaves.
async fn answer_throttled(client: &mut TcpStream, throttled: &AtomicU64) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // The head of the next request.
        let head_end = loop {
            if let Some(at) = find(&buffer, b"\r\n\r\n") {
                break at + 4;
            }
            match client.read(&mut chunk).await {
                Ok(n) if n > 0 => buffer.extend_from_slice(&chunk[..n]),
                _ => return,
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            match client.read(&mut chunk).await {
                Ok(n) if n > 0 => buffer.extend_from_slice(&chunk[..n]),
                _ => return,
            }
        }
        buffer.drain(..head_end + length);
        throttled.fetch_add(1, Ordering::SeqCst);
        let response = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\n\
             x-amzn-query-error: RequestThrottled;Sender\r\ncontent-length: {}\r\n\r\n{}",
            THROTTLED_BODY.len(),
            THROTTLED_BODY
        );
        if client.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
