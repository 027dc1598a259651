//! PKCE (RFC 7636) and the `state` value of the browser sign-in: fresh random values from the
//! operating system for every sign-in, never reused, never logged.

use sha2::{Digest, Sha256};

use super::base64url;
use crate::error::Error;
use crate::token::Secret;

/// The values of one authorization request.
pub struct Pkce {
    /// Sent only to CreateTokenWithIAM, which checks it against the challenge.
    pub verifier: Secret,
    /// `BASE64URL(SHA256(verifier))`, sent in the browser's URL (method `S256`).
    pub challenge: String,
    /// Echoed by the redirect; a redirect with any other value is not ours.
    pub state: String,
}

impl Pkce {
    pub fn generate() -> Result<Pkce, Error> {
        // 64 bytes -> an 86-character verifier, within RFC 7636's 43..=128.
        let verifier = Secret::new(base64url::encode(&random::<64>()?));
        let challenge = challenge_of(verifier.expose());
        let state = base64url::encode(&random::<32>()?);
        Ok(Pkce {
            verifier,
            challenge,
            state,
        })
    }
}

/// The S256 challenge of a verifier.
pub fn challenge_of(verifier: &str) -> String {
    base64url::encode(&Sha256::digest(verifier.as_bytes()))
}

fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| Error::Internal(format!("the system's random source failed: {e}")))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7636_appendix_b_and_fresh_values() {
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let a = Pkce::generate().unwrap();
        let b = Pkce::generate().unwrap();
        assert_eq!(a.verifier.expose().len(), 86);
        assert_eq!(a.state.len(), 43);
        assert_ne!(a.verifier, b.verifier);
        assert_ne!(a.state, b.state);
        assert_eq!(a.challenge, challenge_of(a.verifier.expose()));
    }
}
