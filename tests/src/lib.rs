//! Helpers for the end-to-end tests in `tests/tests`: they start real fundtrail servers on
//! 127.0.0.1:0 and drive them through gRPC clients.
