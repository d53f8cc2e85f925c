//! The disbursements gRPC service.
