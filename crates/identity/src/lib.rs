//! Who is calling, and what they may call.
//!
//! A caller proves who it is with a bearer token (a JWT signed by a key in the configured
//! JWKS) or a TLS client certificate issued by a configured client CA. Either becomes a
//! [`Principal`] with [`Role`]s; [`access`] says which roles may call each gRPC method, and
//! [`AuthLayer`] enforces both on a tonic server. The fund's process managers act as
//! [`Principal::process`], a subject no credential can claim. A client presents its token
//! with [`Credentials`].

mod authenticator;
mod certificate;
mod config;
mod credentials;
mod error;
mod fetch;
mod issuer;
mod jwks;
mod keys;
mod layer;
mod policy;
mod principal;
mod role;
mod token;

pub use authenticator::Authenticator;
pub use config::{AuthConfig, DEV_AUDIENCE, DEV_ISSUER, JwksSource};
pub use credentials::{AuthorizedChannel, Credentials, MalformedToken};
pub use error::{AuthError, IdentityError};
pub use issuer::Issuer;
pub use layer::{AuthLayer, AuthService, principal_of};
pub use policy::{Access, access};
pub use principal::{PROCESS_PREFIX, Principal};
pub use role::{Role, UnknownRole};

#[cfg(test)]
mod tests;
