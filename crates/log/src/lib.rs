//! The event log: the relay that publishes the store's events in position order to Kafka or
//! NATS JetStream, and one consumer abstraction over Kafka, NATS and the embedded store.
