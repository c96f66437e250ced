//! A scripted API server for tests: a `tower_test` mock behind a real [`kube::Client`].
//!
//! The test plays the server: it takes each request in order, checks it, and answers with
//! real-shaped JSON, either whole (a GET or a LIST) or as a watch stream it feeds event by event.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tower_test::mock::{self, SendResponse};

/// Bodies of the mock's answers.
pub type MockBody = UnsyncBoxBody<Bytes, Infallible>;
/// The test's end of the mock.
pub type Handle = mock::Handle<Request<kube::client::Body>, Response<MockBody>>;

/// A client talking to the returned handle.
pub fn client() -> (kube::Client, Handle) {
    let (service, handle) = mock::pair::<Request<kube::client::Body>, Response<MockBody>>();
    (kube::Client::new(service, "default"), handle)
}

/// One request the client made.
pub struct Call {
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The decoded query.
    pub query: String,
    /// The body, as JSON (null when empty).
    pub body: Value,
    respond: SendResponse<Response<MockBody>>,
}

impl Call {
    /// Answers with `status` and `json`.
    pub fn reply(self, status: u16, json: &Value) {
        let body = Full::new(Bytes::from(serde_json::to_vec(json).unwrap())).boxed_unsync();
        let response = Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .header("content-type", "application/json")
            .body(body)
            .unwrap();
        self.respond.send_response(response);
    }

    /// Answers 200 with a watch stream fed through the returned [`WatchFeed`].
    pub fn stream(self) -> WatchFeed {
        let (sender, receiver) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
        let body = StreamBody::new(ReceiverStream::new(receiver)).boxed_unsync();
        self.respond
            .send_response(Response::builder().status(200).body(body).unwrap());
        WatchFeed { sender }
    }

    /// Whether the query has `key=value`.
    pub fn has_param(&self, param: &str) -> bool {
        self.query.split('&').any(|p| p == param)
    }

    /// Asserts that the call lists the collection at `path` for the one object `name` (how a
    /// watch of a named object starts).
    pub fn assert_lists_named(&self, path: &str, name: &str) {
        assert_eq!(self.method, "GET");
        assert_eq!(self.path, path);
        assert!(
            self.has_param(&format!("fieldSelector=metadata.name={name}")),
            "{}",
            self.query
        );
    }
}

/// The open end of a watch answer.
pub struct WatchFeed {
    sender: mpsc::Sender<Result<Frame<Bytes>, Infallible>>,
}

impl WatchFeed {
    /// Sends one watch event (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`).
    pub async fn event(&self, kind: &str, object: &Value) {
        let mut line =
            serde_json::to_vec(&serde_json::json!({"type": kind, "object": object})).unwrap();
        line.push(b'\n');
        self.sender
            .send(Ok(Frame::data(Bytes::from(line))))
            .await
            .expect("the client reads the watch");
    }
}

/// The next request, within 30 s (of virtual time when the test pauses the clock).
pub async fn next(handle: &mut Handle) -> Call {
    let (request, respond) = tokio::time::timeout(Duration::from_secs(30), handle.next_request())
        .await
        .expect("the client makes another request")
        .expect("the client is alive");
    let (parts, body) = request.into_parts();
    let bytes = body.collect_bytes().await.unwrap();
    let query = parts.uri.query().unwrap_or_default();
    Call {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: percent_decode(query),
        body: if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        },
        respond,
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A `List` of `kind` items at `resource_version`.
pub fn list(api_version: &str, kind: &str, resource_version: &str, items: &[Value]) -> Value {
    serde_json::json!({
        "apiVersion": api_version,
        "kind": format!("{kind}List"),
        "metadata": {"resourceVersion": resource_version},
        "items": items,
    })
}

/// The `ERROR` event object of an expired watch (410 Gone).
pub fn expired() -> Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "message": "too old resource version: 100 (150)", "reason": "Expired", "code": 410,
    })
}

/// A 404 `Status`.
pub fn not_found(name: &str) -> Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "message": format!("\"{name}\" not found"), "reason": "NotFound", "code": 404,
    })
}
