//! A JWT's claims, read without verifying it: who an ID token or a trusted issuer's JWT names.
//!
//! Nothing here trusts a claim: the service that issued the token verifies it. The program
//! reads claims only to key a session by person and to name the person in messages, so this
//! sits low in the house, where both the sign-in and the Identity Center boundary reach it.

use crate::base64url;

/// The payload of a JWT as a JSON object, unverified.
pub fn claims(jwt: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = jwt.split('.').nth(1)?;
    match serde_json::from_slice(&base64url::decode(payload)?).ok()? {
        serde_json::Value::Object(m) => Some(m),
        _ => None,
    }
}

/// The claim `name` of a JWT as a string.
pub fn claim(jwt: &str, name: &str) -> Option<String> {
    claims(jwt)?.get(name)?.as_str().map(str::to_owned)
}

#[cfg(test)]
pub(crate) fn make(payload: &serde_json::Value) -> String {
    format!(
        "{}.{}.sig",
        base64url::encode(br#"{"alg":"RS256"}"#),
        base64url::encode(payload.to_string().as_bytes())
    )
}
