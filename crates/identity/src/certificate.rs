//! Client certificates: who a certificate issued by one of the fund's client CAs names.
//!
//! The subject's CN is the principal's subject, its O the organisation, and each OU of the
//! form `role:<role>` grants a role and `donor:<id>` names the donor. Other OUs are left alone:
//! certificates often carry departments there.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;
use x509_parser::x509::AttributeTypeAndValue;

use crate::error::{AuthError, IdentityError};
use crate::principal::Principal;
use crate::role::Role;

/// The CAs that issue client certificates, as configured.
#[derive(Debug, Clone)]
pub(crate) struct ClientCas {
    pem: Vec<u8>,
    certificates: Vec<Vec<u8>>,
}

impl ClientCas {
    pub fn load(path: &Path) -> Result<Self, IdentityError> {
        let fail = |reason: String| IdentityError::ClientCa {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|source| IdentityError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut certificates = Vec::new();
        for block in Pem::iter_from_buffer(&pem) {
            let block = block.map_err(|e| fail(format!("not PEM: {e}")))?;
            if block.label != "CERTIFICATE" {
                continue;
            }
            X509Certificate::from_der(&block.contents)
                .map_err(|e| fail(format!("a certificate does not parse: {e}")))?;
            certificates.push(block.contents);
        }
        if certificates.is_empty() {
            return Err(fail("it holds no certificate".to_owned()));
        }
        Ok(Self { pem, certificates })
    }

    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// The principal `der` names, if one of these CAs issued it and it is valid now.
    pub fn principal(&self, der: &[u8], leeway_seconds: u64) -> Result<Principal, AuthError> {
        let (rest, certificate) = X509Certificate::from_der(der)
            .map_err(|_| AuthError::certificate("it is not a DER X.509 certificate"))?;
        if !rest.is_empty() {
            return Err(AuthError::certificate("it has bytes after the certificate"));
        }
        self.check_issued(&certificate)?;
        check_valid_now(&certificate, leeway_seconds)?;
        check_client_use(&certificate)?;
        principal(&certificate)
    }

    fn check_issued(&self, certificate: &X509Certificate<'_>) -> Result<(), AuthError> {
        let issued = self.certificates.iter().any(|ca| {
            X509Certificate::from_der(ca).is_ok_and(|(_, ca)| {
                ca.subject().as_raw() == certificate.issuer().as_raw()
                    && certificate.verify_signature(Some(ca.public_key())).is_ok()
            })
        });
        if issued {
            Ok(())
        } else {
            Err(AuthError::certificate(
                "it is not issued by a trusted client CA",
            ))
        }
    }
}

fn check_valid_now(
    certificate: &X509Certificate<'_>,
    leeway_seconds: u64,
) -> Result<(), AuthError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        });
    let leeway = i64::try_from(leeway_seconds).unwrap_or(i64::MAX);
    let validity = certificate.validity();
    if validity.not_before.timestamp() > now.saturating_add(leeway) {
        return Err(AuthError::certificate("it is not valid yet"));
    }
    if validity.not_after.timestamp() < now.saturating_sub(leeway) {
        return Err(AuthError::certificate("it has expired"));
    }
    Ok(())
}

fn check_client_use(certificate: &X509Certificate<'_>) -> Result<(), AuthError> {
    // A CA's own certificate would otherwise verify as issued by itself.
    if certificate.is_ca() {
        return Err(AuthError::certificate("it is a CA certificate"));
    }
    match certificate.extended_key_usage() {
        Ok(None) => Ok(()),
        Ok(Some(usage)) if usage.value.client_auth || usage.value.any => Ok(()),
        Ok(Some(_)) => Err(AuthError::certificate(
            "it is not for client authentication",
        )),
        Err(_) => Err(AuthError::certificate(
            "its extended key usage does not parse",
        )),
    }
}

fn text<'a>(attribute: &'a AttributeTypeAndValue<'_>, name: &str) -> Result<&'a str, AuthError> {
    attribute
        .as_str()
        .map(str::trim)
        .map_err(|_| AuthError::certificate(format!("its {name} is not text")))
}

fn single<'a, 'b: 'a>(
    mut values: impl Iterator<Item = &'a AttributeTypeAndValue<'b>>,
    name: &str,
) -> Result<&'a str, AuthError> {
    let first = values
        .next()
        .ok_or_else(|| AuthError::certificate(format!("its subject has no {name}")))?;
    if values.next().is_some() {
        return Err(AuthError::certificate(format!(
            "its subject has more than one {name}"
        )));
    }
    text(first, name)
}

fn principal(certificate: &X509Certificate<'_>) -> Result<Principal, AuthError> {
    let subject = certificate.subject();
    let common_name = single(subject.iter_common_name(), "CN")?.to_owned();
    let organisation = single(subject.iter_organization(), "O")?.to_owned();
    let mut roles = BTreeSet::new();
    let mut donor_id = None;
    for unit in subject.iter_organizational_unit() {
        let unit = text(unit, "OU")?;
        if let Some(role) = unit.strip_prefix("role:") {
            roles.insert(role.trim().parse::<Role>()?);
        } else if let Some(donor) = unit.strip_prefix("donor:")
            && donor_id.replace(donor.trim().to_owned()).is_some()
        {
            return Err(AuthError::certificate("it names more than one donor"));
        }
    }
    let principal = Principal {
        display_name: common_name.clone(),
        subject: common_name,
        organisation,
        roles,
        donor_id,
    };
    principal.validate()?;
    Ok(principal)
}
