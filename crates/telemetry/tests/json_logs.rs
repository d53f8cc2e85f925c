//! JSON log lines carry the trace and span ids of the span they were written in (a binary of
//! its own: the subscriber is process-wide).

use std::io::Write;
use std::sync::{Arc, Mutex};

use fundtrail_telemetry::testing::install_recorder;
use fundtrail_telemetry::{LogFormat, W3c};

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn json_lines_carry_the_ids_of_their_span() {
    let lines = Lines::default();
    let writer = lines.clone();
    install_recorder(LogFormat::Json, move || writer.clone());

    tracing::info!(position = 1, "outside any span");
    let span = tracing::info_span!(target: fundtrail_telemetry::TRACE_TARGET, "command");
    let w3c = span.in_scope(|| {
        tracing::info!(position = 2, "inside the command");
        W3c::current().unwrap()
    });

    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let objects: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let outside = objects.iter().find(|o| o["position"] == 1).unwrap();
    assert!(outside.get("trace_id").is_none());
    let inside = objects.iter().find(|o| o["position"] == 2).unwrap();
    assert_eq!(inside["message"], "inside the command");
    assert_eq!(
        inside["trace_id"].as_str(),
        w3c.trace_id().as_deref(),
        "{inside}"
    );
    let span_id = &w3c.traceparent[36..52];
    assert_eq!(inside["span_id"].as_str(), Some(span_id));
}
