//! JSON log lines that carry the `trace_id` and `span_id` of the span they were written in, so
//! a log collector can put a line next to its trace.

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent};
use tracing_subscriber::registry::LookupSpan;

/// The JSON format of `tracing-subscriber`, with the ids added to each object.
pub(crate) struct WithTraceIds {
    inner: Format<Json>,
}

impl WithTraceIds {
    pub(crate) fn new() -> Self {
        Self {
            inner: tracing_subscriber::fmt::format().json().flatten_event(true),
        }
    }
}

impl<S> FormatEvent<S, JsonFields> for WithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let ids = ctx.lookup_current().and_then(|span| ids_of(&span.id()));
        // The inner format writes exactly one object and a newline, so the ids go before its
        // closing brace; anything else is passed on untouched.
        match (ids, line.trim_end().strip_suffix('}')) {
            (Some((trace_id, span_id)), Some(object)) => {
                writer.write_str(object)?;
                writeln!(
                    writer,
                    ",\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"}}"
                )
            }
            _ => writer.write_str(&line),
        }
    }
}

fn ids_of(id: &tracing::span::Id) -> Option<(String, String)> {
    // Inside an event the dispatcher refuses to be entered again, except for the global one,
    // which is the only one `init` installs.
    tracing::dispatcher::get_default(|dispatch| {
        let context = tracing_opentelemetry::get_otel_context(id, dispatch)?;
        let span = context.span();
        let span_context = span.span_context();
        span_context.is_valid().then(|| {
            (
                span_context.trace_id().to_string(),
                span_context.span_id().to_string(),
            )
        })
    })
}
