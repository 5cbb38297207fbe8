//! The layer around every route that step 9 adds: each request's trace context
//! ([`crate::trace`]) and its RED metrics ([`crate::metrics::http`]), in one tower service.
//!
//! A service of its own rather than two `axum::middleware::from_fn` layers: `from_fn` hands
//! the rest of the stack to an async fn, so it clones that stack (every layer below it, each
//! with its state) for every request. Here the inner service is called in place and only
//! the answer's future is boxed. At the machine's limit the difference is measurable: the
//! profile of the cached product read showed the clones among the largest costs of step 9.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;
use futures::future::BoxFuture;

use crate::metrics::Metrics;
use crate::metrics::http::Recording;
use crate::trace::Traced;

/// `routes`, every request traced and recorded. Outermost (step 9's outer layer), so the
/// trace context is in place before step 0's `request` span is made; a `Router::layer`, so
/// the router has matched and the route's template is known.
pub fn layer(routes: axum::Router, metrics: Metrics) -> axum::Router {
    routes.layer(ObserveLayer {
        metrics: Arc::new(metrics),
    })
}

/// Wraps a route's service in [`Observe`].
#[derive(Clone)]
pub struct ObserveLayer {
    metrics: Arc<Metrics>,
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// A route's service, traced and recorded.
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> tower::Service<Request> for Observe<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let traced = Traced::start(&mut request);
        let recording = Recording::start(&self.metrics, &request);
        let metrics = self.metrics.clone();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let (context, request_id) = (traced.context, Some(traced.request_id.clone()));
            let Ok(mut response) = common::trace::scope_request(context, request_id, answer).await;
            recording.finish(&metrics, &response, started);
            traced.finish(&mut response, started);
            Ok(response)
        })
    }
}
