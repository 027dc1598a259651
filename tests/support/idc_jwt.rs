//! The few bits of cryptographic plumbing the Identity Center stand-in needs, written out
//! because the crate has `sha2` but no `base64`, `hmac` or JWT library, and a stand-in must not
//! pull new crates into the build: base64 (both alphabets), HMAC-SHA256, HS256 JWTs, and the
//! PKCE `S256` transform (RFC 7636 section 4.2).
//!
//! The JWTs are real JWTs (`header.claims.signature`, base64url without padding), signed with
//! HS256 under a key only the stand-in knows, so a test's trusted token issuer can mint them
//! and the stand-in can tell a forged or altered one from a genuine one.

use sha2::{Digest, Sha256};

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn encode(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

fn decode(text: &str, alphabet: &[u8; 64]) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = alphabet.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A lone sixth-bit group (length 1 mod 4) cannot come from any byte string.
    (bits < 6).then_some(out)
}

/// base64url without padding (JWT segments, PKCE).
pub fn b64url(bytes: &[u8]) -> String {
    encode(bytes, URL_SAFE, false)
}

pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    decode(text, URL_SAFE)
}

/// Standard base64 with padding (the identity context, as AWS's opaque blobs look).
pub fn b64(bytes: &[u8]) -> String {
    encode(bytes, STANDARD, true)
}

pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    decode(text, STANDARD)
}

pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&sha256(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// The PKCE `S256` code challenge of `verifier`.
pub fn pkce_s256(verifier: &str) -> String {
    b64url(&sha256(verifier.as_bytes()))
}

/// Whether `verifier` is a valid PKCE code verifier: 43-128 unreserved characters.
pub fn is_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// A JWT with `claims`, signed HS256 with `key`.
pub fn sign(claims: &serde_json::Value, key: &[u8], kid: &str) -> String {
    let header = serde_json::json!({ "alg": "HS256", "typ": "JWT", "kid": kid });
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let signature = b64url(&hmac_sha256(key, input.as_bytes()));
    format!("{input}.{signature}")
}

/// The header and claims of a JWT, without checking its signature.
pub fn parts(jwt: &str) -> Result<(serde_json::Value, serde_json::Value), String> {
    let segments: Vec<&str> = jwt.split('.').collect();
    let [header, claims, _signature] = segments[..] else {
        return Err(format!(
            "a JWT has 3 dot-separated segments, this one has {}",
            segments.len()
        ));
    };
    let json = |segment: &str, what: &str| {
        b64url_decode(segment)
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .filter(serde_json::Value::is_object)
            .ok_or_else(|| format!("the JWT {what} is not base64url-encoded JSON"))
    };
    Ok((json(header, "header")?, json(claims, "claims")?))
}

/// The claims of a JWT whose HS256 signature under `key` is valid.
pub fn verify(jwt: &str, key: &[u8]) -> Result<serde_json::Value, String> {
    let (header, claims) = parts(jwt)?;
    if header["alg"] != "HS256" {
        return Err(format!(
            "JWT algorithm {} is not the issuer's (HS256)",
            header["alg"]
        ));
    }
    let (input, signature) = jwt.rsplit_once('.').unwrap_or_default();
    let good = b64url(&hmac_sha256(key, input.as_bytes()));
    if signature != good {
        return Err("JWT signature does not verify with the issuer's key".into());
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_in_both_alphabets() {
        for n in 0..70u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
            assert_eq!(b64url_decode(&b64url(&bytes)).unwrap(), bytes);
            assert_eq!(b64_decode(&b64(&bytes)).unwrap(), bytes);
            assert_eq!(b64(&bytes).len() % 4, 0);
        }
        assert_eq!(b64(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64(b"fo"), "Zm8=");
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(b64url_decode("a"), None);
        assert_eq!(b64url_decode("a+"), None);
    }

    #[test]
    fn hmac_and_pkce_match_the_rfc_vectors() {
        // RFC 4231 test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(is_code_verifier(&"a".repeat(43)));
        assert!(!is_code_verifier(&"a".repeat(42)));
        assert!(!is_code_verifier(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn jwts_verify_only_with_their_key_and_unaltered() {
        let claims = serde_json::json!({ "sub": "alice", "n": 1 });
        let jwt = sign(&claims, b"key", "k1");
        assert_eq!(verify(&jwt, b"key").unwrap(), claims);
        assert!(verify(&jwt, b"other").is_err());
        let (h, c, s) = {
            let v: Vec<&str> = jwt.split('.').collect();
            (v[0], v[1], v[2])
        };
        let forged = format!("{h}.{}.{s}", b64url(br#"{"sub":"mallory","n":1}"#));
        assert!(verify(&forged, b"key").is_err());
        assert!(parts(&format!("{h}.{c}")).unwrap_err().contains("has 2"));
        assert!(parts("a.b.c").is_err());
    }
}
