//! A misbehaving API server in front of the real one: a layer of a client's stack that
//! answers chosen writes with an error instead of passing them on, and cuts the watch
//! streams open through it. The real kube-apiserver stays behind it (and
//! [`super::ControlPlane::stop_api_server`] takes that one down for real); only the faults
//! are made up here, so the component under test meets the same answers, bodies and
//! broken streams a failing API server gives, not a mock of Kubernetes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use kube::client::Body;
use tower::{Layer, Service};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which writes a fault answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writes {
    /// Creates, updates, patches and deletes of Secrets.
    Secrets,
    /// Writes of any object's `status` subresource.
    Statuses,
}

impl Writes {
    fn matches(self, method: &Method, path: &str) -> bool {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return false;
        }
        match self {
            Self::Secrets => path.contains("/secrets"),
            Self::Statuses => path.ends_with("/status"),
        }
    }
}

#[derive(Debug)]
struct Fault {
    writes: Writes,
    code: u16,
    left: u32,
}

#[derive(Debug)]
struct Inner {
    faults: Mutex<Vec<Fault>>,
    /// What was answered with a fault, as `CODE METHOD path`.
    answered: Mutex<Vec<String>>,
    /// Bumped to cut every open watch.
    cuts: tokio::sync::watch::Sender<u64>,
}

/// The faults of one client, shared with the test that arms them.
#[derive(Clone, Debug)]
pub struct ApiFaults(Arc<Inner>);

impl Default for ApiFaults {
    fn default() -> Self {
        Self(Arc::new(Inner {
            faults: Mutex::default(),
            answered: Mutex::default(),
            cuts: tokio::sync::watch::channel(0).0,
        }))
    }
}

impl ApiFaults {
    /// Answers the next `count` writes of `writes` with HTTP `code` (409 Conflict, 500...)
    /// and a Kubernetes `Status` body, without passing them on. Faults armed earlier are
    /// used first.
    pub fn fail(&self, writes: Writes, code: u16, count: u32) {
        self.0
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Fault {
                writes,
                code,
                left: count,
            });
    }

    /// Disarms every fault not used yet.
    pub fn clear(&self) {
        self.0
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Whether every armed fault has been used.
    pub fn spent(&self) -> bool {
        self.0
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .all(|f| f.left == 0)
    }

    /// The requests answered with a fault so far, as `CODE METHOD path`.
    pub fn answered(&self) -> Vec<String> {
        self.0
            .answered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Ends every watch stream open now with an error, as a dropped connection would.
    pub fn cut_watches(&self) {
        self.0.cuts.send_modify(|n| *n += 1);
    }

    /// How many watch streams are open through this layer.
    pub fn open_watches(&self) -> usize {
        self.0.cuts.receiver_count()
    }

    fn take(&self, method: &Method, path: &str) -> Option<u16> {
        let mut faults = self.0.faults.lock().unwrap_or_else(PoisonError::into_inner);
        let fault = faults
            .iter_mut()
            .find(|f| f.left > 0 && f.writes.matches(method, path))?;
        fault.left -= 1;
        let code = fault.code;
        drop(faults);
        self.0
            .answered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("{code} {method} {path}"));
        Some(code)
    }
}

impl<S> Layer<S> for ApiFaults {
    type Service = FaultyService<S>;

    fn layer(&self, inner: S) -> FaultyService<S> {
        FaultyService {
            inner,
            faults: self.clone(),
        }
    }
}

/// The service [`ApiFaults`] wraps a client's stack in.
#[derive(Clone, Debug)]
pub struct FaultyService<S> {
    inner: S,
    faults: ApiFaults,
}

type Answer = Response<UnsyncBoxBody<Bytes, BoxError>>;

impl<S, B> Service<Request<Body>> for FaultyService<S>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Answer;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if let Some(code) = self.faults.take(request.method(), request.uri().path()) {
            return Box::pin(std::future::ready(Ok(status(code))));
        }
        let watch = request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
        // Only watches subscribe to the cuts, so that `open_watches` counts watches.
        let cuts = watch.then(|| {
            let mut cuts = self.faults.0.cuts.subscribe();
            cuts.mark_unchanged();
            cuts
        });
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await.map_err(Into::into)?;
            Ok(answer.map(|body| match cuts {
                Some(cuts) => cuttable(body, cuts),
                None => body.map_err(Into::into).boxed_unsync(),
            }))
        })
    }
}

/// An error answer as kube-apiserver words it.
fn status(code: u16) -> Answer {
    let reason = match code {
        409 => "Conflict",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        _ => "Unknown",
    };
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": format!("injected by the test: {reason}"),
        "reason": reason,
        "code": code,
    })
    .to_string();
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("a valid response")
}

/// `body`, ended with an error when `cuts` changes.
fn cuttable<B>(body: B, cuts: tokio::sync::watch::Receiver<u64>) -> UnsyncBoxBody<Bytes, BoxError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let frames = StreamExt::boxed(BodyStream::new(body));
    let stream = futures::stream::unfold(Some((frames, cuts)), |state| async move {
        let (mut frames, mut cuts) = state?;
        tokio::select! {
            frame = frames.next() => {
                let frame = frame?.map_err(Into::into);
                Some((frame, Some((frames, cuts))))
            }
            Ok(()) = cuts.changed() => {
                let cut: BoxError = "watch stream cut by the test".into();
                Some((Err(cut), None))
            }
        }
    });
    StreamBody::new(stream).boxed_unsync()
}
