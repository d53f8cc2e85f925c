//! W3C trace context (`traceparent`, `tracestate`) between spans and the places it travels:
//! gRPC metadata, HTTP headers, event metadata, Kafka and NATS headers.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// One span's context in W3C form, as stored in an event's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct W3c {
    pub traceparent: String,
    /// Empty when the trace carries no vendor state.
    pub tracestate: String,
}

impl W3c {
    /// A stored or received pair; `None` without a traceparent.
    pub fn new(traceparent: impl Into<String>, tracestate: impl Into<String>) -> Option<Self> {
        let traceparent = traceparent.into();
        (!traceparent.trim().is_empty()).then(|| Self {
            traceparent,
            tracestate: tracestate.into(),
        })
    }

    /// The context of `span`; `None` when OpenTelemetry does not see it (no layer installed).
    pub fn of_span(span: &tracing::Span) -> Option<Self> {
        Self::of_context(&span.context())
    }

    /// The context of the current span.
    pub fn current() -> Option<Self> {
        Self::of_span(&tracing::Span::current())
    }

    fn of_context(context: &Context) -> Option<Self> {
        if !context.span().span_context().is_valid() {
            return None;
        }
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(context, &mut carrier);
        Self::new(
            carrier.remove(TRACEPARENT).unwrap_or_default(),
            carrier.remove(TRACESTATE).unwrap_or_default(),
        )
    }

    /// The remote span this names; `None` when the traceparent is malformed.
    pub fn context(&self) -> Option<Context> {
        let context = TraceContextPropagator::new().extract(self);
        context.span().span_context().is_valid().then_some(context)
    }

    /// Whether the trace it belongs to is being recorded.
    pub fn is_sampled(&self) -> bool {
        self.context()
            .is_some_and(|c| c.span().span_context().is_sampled())
    }

    /// The trace id, 32 lowercase hex digits.
    pub fn trace_id(&self) -> Option<String> {
        self.context()
            .map(|c| c.span().span_context().trace_id().to_string())
    }

    /// Makes the remote span `span`'s parent. `span` must not have been entered yet.
    pub fn parent(&self, span: &tracing::Span) -> bool {
        match self.context() {
            Some(context) => span.set_parent(context).is_ok(),
            None => false,
        }
    }

    /// Adds the remote span to `span`'s links.
    pub fn link(&self, span: &tracing::Span) {
        if let Some(context) = self.context() {
            span.add_link(context.span().span_context().clone());
        }
    }
}

impl Extractor for W3c {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => Some(self.traceparent.as_str()),
            TRACESTATE => Some(self.tracestate.as_str()),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

/// The context an HTTP request (a gRPC call) came with; `None` without a valid one.
pub fn from_headers(headers: &http::HeaderMap) -> Option<W3c> {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or_default()
    };
    W3c::new(header(TRACEPARENT), header(TRACESTATE)).filter(|w| w.context().is_some())
}

struct Metadata<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for Metadata<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// Puts the current span's context into an outgoing gRPC request's metadata.
pub fn inject_current(metadata: &mut tonic::metadata::MetadataMap) {
    let context = tracing::Span::current().context();
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&context, &mut Metadata(metadata));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn a_stored_pair_names_its_remote_span() {
        let w3c = W3c::new(PARENT, "vendor=x").unwrap();
        assert!(w3c.is_sampled());
        assert_eq!(
            w3c.trace_id().as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        let unsampled = W3c::new(PARENT.replace("-01", "-00"), "").unwrap();
        assert!(!unsampled.is_sampled());
        assert!(W3c::new("", "").is_none());
        assert!(W3c::new("00-garbage", "").unwrap().context().is_none());
    }

    #[test]
    fn headers_give_the_context_only_when_valid() {
        let mut headers = http::HeaderMap::new();
        assert!(from_headers(&headers).is_none());
        headers.insert(TRACEPARENT, "nonsense".parse().unwrap());
        assert!(from_headers(&headers).is_none());
        headers.insert(TRACEPARENT, PARENT.parse().unwrap());
        assert_eq!(from_headers(&headers).unwrap().traceparent, PARENT);
    }

    #[test]
    fn without_opentelemetry_a_span_has_no_context() {
        assert!(W3c::current().is_none());
        let mut metadata = tonic::metadata::MetadataMap::new();
        inject_current(&mut metadata);
        assert!(metadata.is_empty());
    }
}
