//! The pledges gRPC service.
