//! Authentication and authorisation over real connections: a tonic server on 127.0.0.1 with
//! the layer, client certificates from a generated CA, and a key set served over HTTP.

mod certificates;
mod jwks_url;
mod server;
mod support;
