//! Tracing and OpenTelemetry setup shared by every fundtrail server, and the carriers that move
//! W3C trace context through gRPC metadata, event metadata, Kafka headers and NATS headers.
