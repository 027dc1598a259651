//! STS `AssumeRole` with an Identity Center context, as the stand-in serves it (awsQuery:
//! form-encoded request, XML answer, SigV4 service `sts`).
//!
//! Follows the STS API reference (AssumeRole, `ProvidedContexts`, its errors) and the Identity
//! Center user guide's "identity-enhanced IAM role sessions": the context assertion is the
//! identity context `CreateTokenWithIAM` returned, under the provider
//! `arn:aws:iam::aws:contextProvider/IdentityCenter`, and the role's trust policy must allow
//! `sts:SetContext` as well as `sts:AssumeRole`.

use std::time::{Duration, SystemTime};

use super::{
    ACCOUNT, Answer, Checked, Ctx, IDENTITY_CENTER_PROVIDER_ARN, STS_API_VERSION, STS_SIGNING_NAME,
    STS_XMLNS, jwt,
};
use crate::aws_standin::{format_utc, xml_escape};

/// Parameters of the SDK's AssumeRole input (list members by their prefix).
const MEMBERS: &[&str] = &[
    "Action",
    "Version",
    "RoleArn",
    "RoleSessionName",
    "DurationSeconds",
    "Policy",
    "ExternalId",
    "SerialNumber",
    "TokenCode",
    "SourceIdentity",
    "MinimumSessionTokenSize",
];
const LIST_PREFIXES: &[&str] = &[
    "PolicyArns.member.",
    "Tags.member.",
    "TransitiveTagKeys.member.",
    "ProvidedContexts.member.",
];

/// The longest session policy STS packs.
const MAX_POLICY: usize = 2048;

fn validation(msg: impl Into<String>) -> Checked {
    Checked::Ready(Answer::sts_error("ValidationError", msg))
}

fn is_role_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws:iam::") else {
        return false;
    };
    let Some((account, name)) = rest.split_once(":role/") else {
        return false;
    };
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
}

fn is_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

pub(crate) fn assume_role(ctx: &mut Ctx<'_>) -> Checked {
    let sig = ctx.signature(STS_SIGNING_NAME, true);
    let ct = ctx.req.header("content-type").unwrap_or("").to_owned();
    if !ct.starts_with("application/x-www-form-urlencoded") {
        ctx.problem(format!(
            "content-type {ct:?}, expected application/x-www-form-urlencoded"
        ));
    }
    let body = ctx.req.body.clone().unwrap_or_default();
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    for (k, _) in &params {
        if !MEMBERS.contains(&k.as_str()) && !LIST_PREFIXES.iter().any(|p| k.starts_with(p)) {
            ctx.problem(format!("unexpected parameter {k:?}"));
        }
    }
    match get("Version").as_deref() {
        Some(STS_API_VERSION) => {}
        other => ctx.problem(format!("Version is {other:?}, expected {STS_API_VERSION}")),
    }
    if !ctx.problems.is_empty() {
        return Checked::Ready(Answer::sts_error(
            "InvalidParameterValue",
            ctx.problems[0].clone(),
        ));
    }

    let Some(role_arn) = get("RoleArn") else {
        return validation(
            "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
        );
    };
    ctx.rec.role_arn = Some(role_arn.clone());
    if !is_role_arn(&role_arn) {
        return validation(format!("{role_arn} is not a valid role ARN"));
    }
    let session_name = get("RoleSessionName").unwrap_or_default();
    if !is_session_name(&session_name) {
        return validation(format!(
            "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to \
             satisfy constraint: Member must have length 2-64 and match [\\w+=,.@-]*"
        ));
    }
    let duration = match get("DurationSeconds").map(|d| d.parse::<u64>()) {
        None => 3600,
        Some(Ok(d)) if (900..=43200).contains(&d) => d,
        Some(_) => {
            return validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining or is outside 900-43200",
            );
        }
    };
    ctx.rec.duration_seconds = Some(duration);
    if let Some(policy) = get("Policy") {
        if serde_json::from_str::<serde_json::Value>(&policy).map_or(true, |v| !v.is_object()) {
            return Checked::Ready(Answer::sts_error(
                "MalformedPolicyDocument",
                "The policy is not valid JSON",
            ));
        }
        if policy.len() > MAX_POLICY {
            return Checked::Ready(Answer::sts_error(
                "PackedPolicyTooLarge",
                "Packed policy consumes more than 100% of allotted space",
            ));
        }
    }
    let region = sig.region.clone().unwrap_or_default();
    if ctx.shared.cfg.disabled_sts_regions.contains(&region) {
        return Checked::Ready(Answer::sts_error(
            "RegionDisabledException",
            format!(
                "STS is not activated in region {region}. An administrator can activate it in the IAM console."
            ),
        ));
    }

    // ProvidedContexts.member.N.{ProviderArn,ContextAssertion}, numbered 1..=n.
    let mut contexts: Vec<(usize, Option<String>, Option<String>)> = Vec::new();
    for (k, v) in &params {
        let Some(rest) = k.strip_prefix("ProvidedContexts.member.") else {
            continue;
        };
        let Some((n, field)) = rest
            .split_once('.')
            .and_then(|(n, f)| Some((n.parse::<usize>().ok()?, f)))
        else {
            return Checked::Ready(Answer::sts_error(
                "InvalidParameterValue",
                format!("malformed parameter {k}"),
            ));
        };
        let i = match contexts.iter().position(|c| c.0 == n) {
            Some(i) => i,
            None => {
                contexts.push((n, None, None));
                contexts.len() - 1
            }
        };
        match field {
            "ProviderArn" => contexts[i].1 = Some(v.clone()),
            "ContextAssertion" => contexts[i].2 = Some(v.clone()),
            other => {
                return Checked::Ready(Answer::sts_error(
                    "InvalidParameterValue",
                    format!("ProvidedContexts has no member {other}"),
                ));
            }
        }
    }
    contexts.sort_by_key(|c| c.0);
    if contexts.iter().enumerate().any(|(i, c)| c.0 != i + 1) {
        return Checked::Ready(Answer::sts_error(
            "InvalidParameterValue",
            "ProvidedContexts.member.N are not numbered 1..=n",
        ));
    }
    let person = match &contexts[..] {
        [] => None,
        [(_, Some(provider), Some(assertion))] => {
            if provider != IDENTITY_CENTER_PROVIDER_ARN {
                return Checked::Ready(Answer::sts_error(
                    "InvalidParameterValue",
                    format!(
                        "Invalid ProviderArn {provider}: expected {IDENTITY_CENTER_PROVIDER_ARN}"
                    ),
                ));
            }
            if ctx.shared.cfg.roles_without_set_context.contains(&role_arn) {
                let caller = sig.access_key_id.clone().unwrap_or_default();
                return Checked::Ready(Answer::sts_error(
                    "AccessDenied",
                    format!(
                        "User: arn:aws:sts::{ACCOUNT}:assumed-role/Bootstrap/{caller} is not authorized to perform: \
                         sts:SetContext on resource: {role_arn}"
                    ),
                ));
            }
            let session = super::lock(&ctx.shared.state)
                .contexts
                .get(assertion)
                .cloned();
            match session {
                None => {
                    return Checked::Ready(Answer::sts_error(
                        "InvalidParameterValue",
                        "The ContextAssertion is not a valid Identity Center identity context",
                    ));
                }
                Some(s) if s.expired() => {
                    return Checked::Ready(Answer::sts_error(
                        "ExpiredTokenException",
                        "The provided context assertion has expired",
                    ));
                }
                Some(s) => Some(s.person),
            }
        }
        [(_, provider, assertion)] => {
            let missing = if provider.is_none() {
                "ProviderArn"
            } else {
                "ContextAssertion"
            };
            let _ = assertion;
            return Checked::Ready(Answer::sts_error(
                "InvalidParameterValue",
                format!("ProvidedContexts.member.1.{missing} is required"),
            ));
        }
        _ => {
            return Checked::Ready(Answer::sts_error(
                "InvalidParameterValue",
                "Only one Identity Center context can be provided",
            ));
        }
    };
    ctx.rec.person = person.clone();
    Checked::Valid(Box::new(move |ctx: &mut Ctx<'_>| {
        let mut state = super::lock(&ctx.shared.state);
        let (access_key_id, person_name) = match &person {
            Some(p) => {
                let n = state.role_seq.entry(p.clone()).or_default();
                *n += 1;
                (
                    format!("ASIA{}{:04}", p.to_ascii_uppercase(), *n),
                    p.clone(),
                )
            }
            None => {
                let n = state.role_seq.entry(String::new()).or_default();
                *n += 1;
                (format!("ASIA{:04}NOCONTEXT", *n), String::new())
            }
        };
        let secret_key = ctx.secret(&mut state, "rsk");
        let session_token = format!(
            "IQoJb3JpZ2luX2VjE{}",
            jwt::b64(
                format!(
                    "{access_key_id}:{:016x}{:016x}",
                    super::random_u64(),
                    super::random_u64()
                )
                .as_bytes()
            )
        );
        state.secrets.push(session_token.clone());
        if !person_name.is_empty() {
            state.role_keys.insert(access_key_id.clone(), person_name);
        }
        ctx.rec.issued_access_key_id = Some(access_key_id.clone());
        let ttl = Duration::from_secs(duration).min(ctx.shared.cfg.max_role_ttl);
        let expiration = format_utc((SystemTime::now() + ttl).into());
        let role_name = role_arn.rsplit('/').next().unwrap_or_default();
        let body = format!(
            "<AssumeRoleResponse xmlns=\"{STS_XMLNS}\"><AssumeRoleResult>\
             <AssumedRoleUser><AssumedRoleId>AROA3XFRBF535PLBIFPI4:{sn}</AssumedRoleId>\
             <Arn>arn:aws:sts::{ACCOUNT}:assumed-role/{rn}/{sn}</Arn></AssumedRoleUser>\
             <Credentials><AccessKeyId>{access_key_id}</AccessKeyId>\
             <SecretAccessKey>{sk}</SecretAccessKey><SessionToken>{st}</SessionToken>\
             <Expiration>{expiration}</Expiration></Credentials>\
             </AssumeRoleResult><ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata>\
             </AssumeRoleResponse>\n",
            sn = xml_escape(&session_name),
            rn = xml_escape(role_name),
            sk = xml_escape(&secret_key),
            st = xml_escape(&session_token),
            id = crate::aws_standin::request_id(),
        );
        Answer::Xml(body)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_and_session_names_follow_the_sts_rules() {
        assert!(is_role_arn(
            "arn:aws:iam::123456789012:role/path/Name+=,.@_-"
        ));
        assert!(!is_role_arn("arn:aws:iam::12345678901:role/x"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:user/x"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:role/"));
        assert!(is_session_name("redshift-idc-token-0123456789abcdef"));
        assert!(!is_session_name("x"));
        assert!(!is_session_name("has space"));
        assert!(!is_session_name(&"a".repeat(65)));
    }
}
