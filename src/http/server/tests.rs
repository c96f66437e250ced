//! The HTTP server's bounds, with raw TCP clients: headers that never come, idle keep-alive
//! connections, the connection cap, and the drain on shutdown.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::*;

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: scaler\r\n\r\n";

/// A server answering `GET /` with "ok", and `GET /slow` with "slow" once `release` fires.
struct Running {
    address: SocketAddr,
    stop: oneshot::Sender<()>,
    release: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

async fn start(max_connections: usize, header_read_timeout: Duration) -> Running {
    let (release, released) = oneshot::channel::<()>();
    let released = Arc::new(Mutex::new(Some(released)));
    let router = Router::new().route("/", get(|| async { "ok" })).route(
        "/slow",
        get(move || {
            let released = released.lock().unwrap().take();
            async move {
                if let Some(released) = released {
                    let _ = released.await;
                }
                "slow"
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let limits = ConnectionLimits {
        max_connections,
        header_read_timeout,
    };
    let server = tokio::spawn(serve(listener, router, limits, async {
        let _ = stopped.await;
    }));
    Running {
        address,
        stop,
        release,
        server,
    }
}

/// Reads until the server closes the connection (failing after 5 s); what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut text = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut text)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&text).into_owned()
}

/// Reads one answer to `GET /` (its headers and the body "ok").
async fn read_response(stream: &mut TcpStream) -> String {
    let mut text = Vec::new();
    let mut buffer = [0u8; 1024];
    while !String::from_utf8_lossy(&text).ends_with("\r\n\r\nok") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("a response within 5 s")
            .unwrap();
        assert!(n > 0, "closed before a whole response");
        text.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// A connection to `address` that has been answered one `GET /`.
async fn served_once(address: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(REQUEST).await.unwrap();
    let response = read_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    stream
}

#[tokio::test]
async fn headers_that_do_not_arrive_in_time_close_the_connection() {
    let running = start(10, Duration::from_millis(300)).await;
    // Half of a request's headers, then nothing.
    let mut partial = TcpStream::connect(running.address).await.unwrap();
    partial
        .write_all(b"GET / HTTP/1.1\r\nHost: sca")
        .await
        .unwrap();
    let answer = read_until_closed(&mut partial).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    // Nothing at all.
    let mut silent = TcpStream::connect(running.address).await.unwrap();
    read_until_closed(&mut silent).await;
}

#[tokio::test]
async fn a_keep_alive_connection_is_served_then_closed_once_idle() {
    let running = start(10, Duration::from_millis(300)).await;
    let mut client = TcpStream::connect(running.address).await.unwrap();
    for _ in 0..2 {
        client.write_all(REQUEST).await.unwrap();
        let response = read_response(&mut client).await;
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    }
    assert_eq!(read_until_closed(&mut client).await, "");
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let running = start(1, Duration::from_secs(60)).await;
    let first = served_once(running.address).await;
    // The second connection waits in the backlog: its request is not read while the first
    // holds the only place.
    let mut second = TcpStream::connect(running.address).await.unwrap();
    second.write_all(REQUEST).await.unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), second.read(&mut byte)).await;
    assert!(early.is_err(), "answered while the limit was reached");
    drop(first);
    let response = read_response(&mut second).await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_closes_idle_connections() {
    let running = start(10, Duration::from_secs(60)).await;
    let mut idle = served_once(running.address).await;
    let mut in_flight = TcpStream::connect(running.address).await.unwrap();
    in_flight
        .write_all(b"GET /slow HTTP/1.1\r\nHost: scaler\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    running.stop.send(()).unwrap();
    assert_eq!(read_until_closed(&mut idle).await, "", "idle: closed");
    // The listener is gone: new connections are refused.
    assert!(TcpStream::connect(running.address).await.is_err());
    assert!(
        !running.server.is_finished(),
        "waits for the request in flight"
    );
    running.release.send(()).unwrap();
    let answer = read_until_closed(&mut in_flight).await;
    assert!(
        answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("slow"),
        "{answer}"
    );
    tokio::time::timeout(Duration::from_secs(5), running.server)
        .await
        .expect("serve returns once drained")
        .unwrap();
}
