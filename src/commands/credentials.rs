//! `credentials`: the signed-in session's role credentials in the `credential_process`
//! format (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-process-credentials.html>),
//! so the AWS CLI, boto3 and the drivers' own identity-enhanced mode can use the same session.

use crate::cli::{GlobalArgs, SessionArgs};
use crate::env::Env;
use crate::error::Error;
use crate::output::emit;
use crate::settings::{AccessRequest, SessionRequest};
use crate::signin::{Session, Want};
use crate::token::rfc3339;

/// `credentials`: the credential_process document on stdout.
pub fn run(args: &SessionArgs, global: &GlobalArgs, env: &Env) -> Result<u8, Error> {
    if AccessRequest::from_args(args, env)?.is_some() {
        return Err(Error::MissingSetting {
            what: "the profile is in access-token mode, which has no AWS role credentials to print"
                .into(),
            fix: "drivers take the access token itself: `redshift-idc-token --format jdbc` (token_type=ACCESS_TOKEN); `credentials` needs redshift_idc_application_arn and redshift_idc_role_arn".into(),
        });
    }
    let r = SessionRequest::from_args(args, env)?;
    let cache = crate::cache::open_or_warn(global.cache_dir.as_deref());
    let (s, _) = r.signin(env).session(cache.as_ref(), Want::Fresh)?;
    let mut doc = process_credentials(&s).to_string();
    doc.push('\n');
    // The document holds the secret key: built and written once, the String zeroized after.
    let doc = zeroize::Zeroizing::new(doc);
    emit(doc.as_bytes())?;
    Ok(0)
}

/// The `credential_process` JSON (Version 1) for a session.
pub fn process_credentials(s: &Session) -> serde_json::Value {
    let c = &s.credentials;
    serde_json::json!({
        "Version": 1,
        "AccessKeyId": c.access_key_id,
        "SecretAccessKey": c.secret_access_key.expose(),
        "SessionToken": c.session_token.expose(),
        "Expiration": rfc3339(c.expiration),
    })
}
