//! The milestones gRPC service.
