//! SDK errors in words: the error chain without `Debug` dumps, a connection failure's cause,
//! and the Redshift services' error codes mapped to our errors. One translation for both
//! boundaries, so a network failure reads the same whichever service it reached.

use crate::error::Error;
use crate::target::Service;

/// An error and its causes, each by its `Display`, joined with ": " (a cause already quoted
/// by its parent's message is not repeated). Unlike the SDK's `DisplayErrorContext` it never
/// appends the `Debug` form, which is a Rust structure, not a sentence.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

/// The cause of a connection failure in words, from the error's source chain: the kind of
/// the `io::Error` at its root where there is one, else what the layers say (hyper and rustls
/// name DNS and TLS failures in their messages). Never a `Debug` structure.
pub fn network_cause(err: &(dyn std::error::Error + 'static)) -> String {
    use std::io::ErrorKind as K;
    let mut texts = String::new();
    let mut kind = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            kind = Some(io.kind());
        }
        texts.push_str(&e.to_string().to_ascii_lowercase());
        texts.push(' ');
        source = e.source();
    }
    let has = |w: &str| texts.contains(w);
    if has("dns error") || has("failed to lookup address") || has("name resolution") {
        return "the DNS lookup of its host name failed".to_owned();
    }
    if has("tls") || has("certificate") || has("handshake") || has("corrupt message") {
        return "the TLS handshake failed (is it an https:// endpoint with a certificate this machine trusts?)".to_owned();
    }
    match kind {
        Some(K::ConnectionRefused) => "connection refused (nothing listens there)".to_owned(),
        Some(K::ConnectionReset) | Some(K::ConnectionAborted) | Some(K::BrokenPipe) => {
            "the connection was closed by the other side".to_owned()
        }
        Some(K::TimedOut) => "the connection timed out".to_owned(),
        Some(K::HostUnreachable) | Some(K::NetworkUnreachable) => {
            "the host or network is unreachable".to_owned()
        }
        Some(K::AddrNotAvailable) => "the address is not available on this machine".to_owned(),
        _ if has("connection refused") => "connection refused (nothing listens there)".to_owned(),
        _ if has("timed out") => "the connection timed out".to_owned(),
        _ => "the connection failed".to_owned(),
    }
}

pub fn not_a_reply(service: Service, status: u16) -> String {
    let format = match service {
        Service::Redshift => "XML",
        Service::Serverless => "JSON",
    };
    format!("HTTP {status} with a body that is not a valid {format} reply")
}

/// The error for an AWS error code: the modeled errors of both operations, plus the common
/// AWS-wide codes for bad credentials and throttling.
pub fn service_error(
    service: Service,
    region: &str,
    status: u16,
    code: String,
    message: String,
) -> Error {
    let what = match service {
        Service::Redshift => "cluster",
        Service::Serverless => "workgroup",
    };
    match code.as_str() {
        "UnsupportedOperation" | "UnsupportedOperationFault" => {
            Error::NotIdentityEnhanced { code, message }
        }
        "AccessDenied"
        | "AccessDeniedException"
        | "AccessDeniedFault"
        | "UnauthorizedOperation" => Error::AccessDenied {
            code,
            message,
            action: match service {
                Service::Redshift => "redshift:GetIdentityCenterAuthToken",
                Service::Serverless => "redshift-serverless:GetIdentityCenterAuthToken",
            },
            resource: match service {
                Service::Redshift => "cluster ARN",
                Service::Serverless => "workgroup ARN",
            },
        },
        "ClusterNotFound" | "ClusterNotFoundFault" | "ResourceNotFoundException" => {
            Error::TargetNotFound {
                code,
                message,
                what,
                region: region.to_owned(),
            }
        }
        "InvalidClusterState" | "InvalidClusterStateFault" | "ConflictException" => {
            Error::TargetState {
                code,
                message,
                what,
            }
        }
        "RedshiftInvalidParameter"
        | "ValidationException"
        | "DryRunException"
        | "InvalidParameterValue"
        | "InvalidParameterCombination" => Error::InvalidRequest { code, message },
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException" => Error::Throttled { code, message },
        "ExpiredToken"
        | "ExpiredTokenException"
        | "RequestExpired"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "InvalidSignatureException"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "AuthFailure" => Error::RejectedCredentials { code, message },
        "InternalServerException" | "InternalFailure" | "InternalError" | "ServiceUnavailable" => {
            Error::ServiceFailure { code, message }
        }
        "" => Error::ServiceFailure {
            code: format!("HTTP {status}"),
            message,
        },
        _ if status >= 500 => Error::ServiceFailure { code, message },
        _ => Error::InvalidRequest { code, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_categories() {
        let e = |code: &str, status| {
            service_error(
                Service::Redshift,
                "us-east-1",
                status,
                code.into(),
                "m".into(),
            )
            .exit_code() as u8
        };
        assert_eq!(e("UnsupportedOperation", 400), 4);
        assert_eq!(e("ExpiredToken", 403), 3);
        assert_eq!(e("Throttling", 400), 5);
        assert_eq!(e("SomethingNew", 503), 5);
        assert_eq!(e("SomethingNew", 400), 4);
        assert_eq!(e("", 502), 5);
    }
}
