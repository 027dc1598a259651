//! sso-oidc and its authorization page, as the Identity Center stand-in serves them.
//!
//! The checks follow the AWS references: the IAM Identity Center OIDC API reference
//! (`RegisterClient`, `CreateToken`, `CreateTokenWithIAM` and their errors), "Using
//! CreateTokenWithIAM" in the Identity Center user guide (grants `authorization_code`,
//! `refresh_token`, `urn:ietf:params:oauth:grant-type:jwt-bearer`,
//! `urn:ietf:params:oauth:grant-type:token-exchange`), and the authorization URL the AWS CLI
//! and the Redshift drivers' `BrowserIdcAuthPlugin` open:
//! `/authorize?response_type=code&client_id=..&redirect_uri=..&state=..&code_challenge_method=S256&scopes=..&code_challenge=..`
//! with a loopback redirect (RFC 8252: any port), PKCE per RFC 7636.
//!
//! Scopes (why a reply does or does not carry an identity context): an authorization code
//! carries the scopes asked for at `/authorize` (all of which the application must allow, else
//! `error=invalid_scope`). `CreateTokenWithIAM` grants, per its `scope` member ("The access
//! token that is issued is limited to the scopes that are granted. If the value is not
//! specified, IAM Identity Center authorizes all scopes configured for the application,
//! including the following default scopes: openid, aws, sts:identity_context"; downscoping
//! only, "reduced permissions compared to ... the refresh token's scopes"):
//! - `authorization_code`: the code's scopes (or a subset named in `scope`);
//! - `refresh_token`: the refresh token's scopes (or a subset);
//! - `jwt-bearer` and `token-exchange`: the application's scopes plus the three defaults (or
//!   the subset named in `scope`).
//!
//! and answers with an `idToken` only when `openid` was granted (OpenID Connect Core 1.0,
//! section 3.1.2.1: the `openid` scope makes a request an OpenID one), whose `aws:*` claims
//! need `aws`, and with the `sts:identity_context` claim and `awsAdditionalDetails` only when
//! `sts:identity_context` was granted ("This value corresponds to the sts:identity_context
//! claim in the ID token", AwsAdditionalDetails; the user guide's "Identity-enhanced IAM role
//! sessions" takes the context assertion from that claim:
//! https://docs.aws.amazon.com/singlesignon/latest/userguide/trustedidentitypropagation-identity-enhanced-iam-role-sessions.html).
//! The S3 user guide's directory-identities walk-through shows a jwt-bearer reply granting
//! `["sts:identity_context", "s3:access_grants:read_write", "openid", "aws"]` for an
//! application configured with the S3 scope only.
//!
//! `CreateToken` (public clients: the drivers' `BrowserIdcAuthPlugin`, the AWS CLI) issues
//! tokens carrying the client's registered scopes ("This parameter has no effect; the access
//! token will always include all scopes configured during client registration"), a refresh
//! token only to clients registered for `refresh_token`, and refuses grants the client did not
//! register (`UnauthorizedClientException`) and clients past `clientSecretExpiresAt`
//! (`InvalidClientException`: "this can occur when a client sends an incorrect clientId or an
//! expired clientSecret"). The device grant follows `StartDeviceAuthorization` and RFC 8628
//! (section 3.5: `authorization_pending`, `slow_down` adding 5 s to the interval,
//! `access_denied`, `expired_token`). Access tokens are HS256 JWTs under
//! [`IdcConfig::access_token_key`](super::IdcConfig) naming the person, so the Redshift wire
//! stand-in can check `token_type=ACCESS_TOKEN` offline; the real ones are opaque, and a
//! client must treat these as opaque too. API reference pages:
//! https://docs.aws.amazon.com/singlesignon/latest/OIDCAPIReference/API_RegisterClient.html,
//! API_CreateToken.html, API_CreateTokenWithIAM.html, API_StartDeviceAuthorization.html
//! (the same text is in the SDK model botocore `data/sso-oidc/2019-06-10/service-2.json`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::jwt;
use super::{
    Answer, AuthorizeRequest, Checked, Client, CodeGrant, Ctx, DEFAULT_APPLICATION_SCOPES,
    DeviceDecision, DeviceGrant, GRANT_AUTHORIZATION_CODE, GRANT_DEVICE_CODE, GRANT_JWT_BEARER,
    GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE, Grants, IDENTITY_STORE_ID, INSTANCE_ID, Person,
    SCOPE_AWS, SCOPE_IDENTITY_CONTEXT, SCOPE_OPENID, SSO_OAUTH_SIGNING_NAME, Session,
    TOKEN_TYPE_ACCESS, TOKEN_TYPE_REFRESH, page, unix_now,
};

/// How long an authorization code may wait for its token call.
const CODE_TTL: Duration = Duration::from_secs(600);

/// The members each operation's SDK input can carry; anything else was not sent by the SDK.
const REGISTER_CLIENT_MEMBERS: &[&str] = &[
    "clientName",
    "clientType",
    "scopes",
    "redirectUris",
    "grantTypes",
    "issuerUrl",
    "entitledApplicationArn",
];
const CREATE_TOKEN_MEMBERS: &[&str] = &[
    "clientId",
    "clientSecret",
    "grantType",
    "deviceCode",
    "code",
    "refreshToken",
    "scope",
    "redirectUri",
    "codeVerifier",
];
const START_DEVICE_AUTHORIZATION_MEMBERS: &[&str] = &["clientId", "clientSecret", "startUrl"];
const CREATE_TOKEN_WITH_IAM_MEMBERS: &[&str] = &[
    "clientId",
    "grantType",
    "code",
    "refreshToken",
    "assertion",
    "scope",
    "redirectUri",
    "subjectToken",
    "subjectTokenType",
    "requestedTokenType",
    "codeVerifier",
];

type Body = serde_json::Map<String, serde_json::Value>;

/// Reads the body and flags members the SDK does not have and members of the wrong type.
fn body(ctx: &mut Ctx<'_>, members: &[&str]) -> Body {
    let body = ctx.json_body();
    for (k, v) in &body {
        if !members.contains(&k.as_str()) {
            ctx.problem(format!("unexpected member {k:?}"));
        } else if !(v.is_string() || v.is_array()) {
            ctx.problem(format!("member {k:?} is neither a string nor a list"));
        }
    }
    body
}

fn string(body: &Body, name: &str) -> Option<String> {
    body.get(name).and_then(|v| v.as_str()).map(str::to_owned)
}

fn strings(body: &Body, name: &str) -> Vec<String> {
    body.get(name)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

macro_rules! required {
    ($body:expr, $name:literal) => {
        match string($body, $name) {
            Some(v) if !v.is_empty() => v,
            _ => {
                return Checked::Ready(Answer::oidc_error(
                    "InvalidRequestException",
                    concat!("Missing required parameter: ", $name),
                ));
            }
        }
    };
}

/// Scopes not in the application's (or client's) list, if any.
fn bad_scopes(allowed: &[String], asked: &[String]) -> Option<String> {
    let bad: Vec<&str> = asked
        .iter()
        .filter(|s| !allowed.contains(s))
        .map(String::as_str)
        .collect();
    (!bad.is_empty()).then(|| format!("Invalid scope(s) requested: {}", bad.join(", ")))
}

/// What the application may grant: its configured scopes and the three defaults.
fn application_scopes(cfg: &super::IdcConfig) -> Vec<String> {
    let mut all = cfg.allowed_scopes.clone();
    for d in DEFAULT_APPLICATION_SCOPES {
        if !all.iter().any(|s| s == d) {
            all.push(d.to_owned());
        }
    }
    all
}

/// The scopes a token call grants: `asked` if given (each of which must be in `available`:
/// downscoping only), else all of `available`.
fn grant_scopes(available: Vec<String>, asked: Vec<String>) -> Result<Vec<String>, Answer> {
    if asked.is_empty() {
        return Ok(available);
    }
    match bad_scopes(&available, &asked) {
        Some(msg) => Err(Answer::oidc_error("InvalidScopeException", msg)),
        None => Ok(asked),
    }
}

fn epoch_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The client `client_id` if `secret` is its secret and it has not expired.
fn live_client(
    state: &Grants,
    client_id: &str,
    secret: &str,
) -> Result<(Vec<String>, Vec<String>), Answer> {
    match state.clients.get(client_id) {
        Some(c) if c.secret == secret && c.expired() => Err(Answer::oidc_error(
            "InvalidClientException",
            format!(
                "Client registration expired at {} (clientSecretExpiresAt): register again",
                epoch_secs(c.expires)
            ),
        )),
        Some(c) if c.secret == secret => Ok((c.grant_types.clone(), c.scopes.clone())),
        _ => Err(Answer::oidc_error(
            "InvalidClientException",
            "Invalid client provided",
        )),
    }
}

/// A loopback redirect URI (`http://127.0.0.1[:port]/path`, or `localhost`, or `[::1]`), split
/// into what must match a registration (everything but the port) and the port.
fn loopback(uri: &str) -> Option<(String, Option<u16>)> {
    let rest = uri.strip_prefix("http://")?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (host, port) = match authority.strip_prefix("[::1]") {
        Some(port) => ("[::1]", port),
        None => match authority.find(':') {
            Some(i) => authority.split_at(i),
            None => (authority, ""),
        },
    };
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        return None;
    }
    let port = if port.is_empty() {
        None
    } else {
        Some(
            port.strip_prefix(':')?
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)?,
        )
    };
    Some((format!("http://{host}{path}"), port))
}

/// Whether `uri` is one of `registered`, ignoring the port (RFC 8252 section 7.3).
fn registered(registered: &[String], uri: &str) -> bool {
    let Some((want, _)) = loopback(uri) else {
        return false;
    };
    registered
        .iter()
        .any(|r| loopback(r).is_some_and(|(r, _)| r == want))
}

pub(crate) fn register_client(ctx: &mut Ctx<'_>) -> Checked {
    // Unsigned in the SDK; a signature is recorded, not required.
    ctx.signature(SSO_OAUTH_SIGNING_NAME, false);
    let b = body(ctx, REGISTER_CLIENT_MEMBERS);
    let name = required!(&b, "clientName");
    let client_type = required!(&b, "clientType");
    ctx.rec.client_id = Some(name);
    if client_type != "public" {
        return Checked::Ready(Answer::oidc_error(
            "InvalidClientMetadataException",
            format!("Invalid client type: {client_type} (only public clients)"),
        ));
    }
    // issuerUrl: "The IAM Identity Center Issuer URL associated with an instance of IAM
    // Identity Center". The Redshift drivers send their `issuer_url` (the instance's issuer
    // URL); the AWS CLI and Athena's JDBC driver send the access portal (start) URL. Anything
    // else names no instance of this stand-in.
    if let Some(u) = string(&b, "issuerUrl") {
        let cfg = &ctx.shared.cfg;
        if u != cfg.issuer_url && u != cfg.start_url {
            return Checked::Ready(Answer::oidc_error(
                "InvalidRequestException",
                format!(
                    "Invalid issuerUrl: {u} is neither the issuer URL nor the AWS access portal URL of this IAM Identity Center instance"
                ),
            ));
        }
    }
    let mut grant_types = strings(&b, "grantTypes");
    // Without grantTypes a client gets what the AWS CLI's device-code registration (which
    // sends none) relies on: the device code and refresh token grants.
    if grant_types.is_empty() {
        grant_types = vec![GRANT_DEVICE_CODE.to_owned(), GRANT_REFRESH_TOKEN.to_owned()];
    }
    let known = [
        GRANT_AUTHORIZATION_CODE,
        GRANT_REFRESH_TOKEN,
        GRANT_DEVICE_CODE,
    ];
    if let Some(g) = grant_types.iter().find(|g| !known.contains(&g.as_str())) {
        return Checked::Ready(Answer::oidc_error(
            "UnsupportedGrantTypeException",
            format!("Unsupported grant type: {g}"),
        ));
    }
    let redirect_uris = strings(&b, "redirectUris");
    if let Some(u) = redirect_uris.iter().find(|u| loopback(u).is_none()) {
        return Checked::Ready(Answer::oidc_error(
            "InvalidRedirectUriException",
            format!("Invalid redirect URI (only http loopback URIs): {u}"),
        ));
    }
    if grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE) && redirect_uris.is_empty() {
        return Checked::Ready(Answer::oidc_error(
            "InvalidRequestException",
            "redirectUris are required for the authorization_code grant",
        ));
    }
    let scopes = strings(&b, "scopes");
    if let Some(msg) = bad_scopes(&ctx.shared.cfg.allowed_scopes, &scopes) {
        return Checked::Ready(Answer::oidc_error("InvalidScopeException", msg));
    }
    Checked::Valid(Box::new(move |ctx: &mut Ctx<'_>| {
        let mut state = super::lock(&ctx.shared.state);
        let id = jwt::b64url(&super::random_u64().to_le_bytes()) + "dXMtZWFzdC0x";
        let secret = ctx.secret(&mut state, "cs.");
        let issued = SystemTime::now();
        let expires = issued + ctx.shared.cfg.client_ttl;
        state.clients.insert(
            id.clone(),
            Client {
                secret: secret.clone(),
                redirect_uris,
                grant_types,
                scopes,
                expires,
            },
        );
        Answer::Json(serde_json::json!({
            "clientId": id,
            "clientSecret": secret,
            "clientIdIssuedAt": epoch_secs(issued),
            "clientSecretExpiresAt": epoch_secs(expires),
        }))
    }))
}

pub(crate) fn create_token(ctx: &mut Ctx<'_>) -> Checked {
    ctx.signature(SSO_OAUTH_SIGNING_NAME, false);
    let b = body(ctx, CREATE_TOKEN_MEMBERS);
    let client_id = required!(&b, "clientId");
    let client_secret = required!(&b, "clientSecret");
    let grant_type = required!(&b, "grantType");
    ctx.rec.client_id = Some(client_id.clone());
    ctx.rec.grant_type = Some(grant_type.clone());
    let live = live_client(&super::lock(&ctx.shared.state), &client_id, &client_secret);
    let (grants, client_scopes) = match live {
        Ok(c) => c,
        Err(answer) => return Checked::Ready(answer),
    };
    let scope = strings(&b, "scope");
    if let Some(msg) = bad_scopes(&client_scopes, &scope) {
        return Checked::Ready(Answer::oidc_error("InvalidScopeException", msg));
    }
    if [
        GRANT_AUTHORIZATION_CODE,
        GRANT_REFRESH_TOKEN,
        GRANT_DEVICE_CODE,
    ]
    .contains(&grant_type.as_str())
        && !grants.contains(&grant_type)
    {
        return Checked::Ready(Answer::oidc_error(
            "UnauthorizedClientException",
            format!("Client is not authorized for the {grant_type} grant"),
        ));
    }
    match grant_type.as_str() {
        GRANT_AUTHORIZATION_CODE => {
            let code = required!(&b, "code");
            let verifier = required!(&b, "codeVerifier");
            let redirect = string(&b, "redirectUri");
            let with_refresh = grants.iter().any(|g| g == GRANT_REFRESH_TOKEN);
            Checked::Valid(Box::new(move |ctx: &mut Ctx<'_>| {
                let mut state = super::lock(&ctx.shared.state);
                match redeem_code(
                    &mut state,
                    &client_id,
                    &code,
                    redirect.as_deref(),
                    &verifier,
                ) {
                    Err(answer) => answer,
                    Ok(grant) => {
                        ctx.rec.person = Some(grant.person.clone());
                        let tokens = issue(
                            ctx,
                            &mut state,
                            &grant.person,
                            &client_id,
                            client_scopes,
                            with_refresh,
                        );
                        Answer::Json(tokens.create_token_reply())
                    }
                }
            }))
        }
        GRANT_REFRESH_TOKEN => {
            let refresh = required!(&b, "refreshToken");
            // CreateToken's `scope` "has no effect".
            refresh_grant(refresh, client_id, Vec::new(), |tokens, _, _, _| {
                tokens.create_token_reply()
            })
        }
        GRANT_DEVICE_CODE => {
            let device_code = required!(&b, "deviceCode");
            let with_refresh = grants.iter().any(|g| g == GRANT_REFRESH_TOKEN);
            Checked::Valid(Box::new(move |ctx: &mut Ctx<'_>| {
                let mut state = super::lock(&ctx.shared.state);
                let increment = ctx.shared.cfg.slow_down_increment;
                let Some(device) = state
                    .devices
                    .get_mut(&device_code)
                    .filter(|d| d.client_id == client_id)
                else {
                    return Answer::oidc_error(
                        "InvalidGrantException",
                        "Invalid device code provided",
                    );
                };
                if SystemTime::now() >= device.expires {
                    return Answer::oidc_error(
                        "ExpiredTokenException",
                        "The device code has expired: start the device authorization again",
                    );
                }
                match device.decision.clone() {
                    DeviceDecision::Pending => {
                        let now = Instant::now();
                        let too_fast = device
                            .last_poll
                            .is_some_and(|t| now.duration_since(t) < device.interval);
                        device.last_poll = Some(now);
                        if too_fast {
                            device.interval += increment;
                            Answer::oidc_error(
                                "SlowDownException",
                                format!(
                                    "Client is polling faster than the interval; wait {} s between polls",
                                    device.interval.as_secs()
                                ),
                            )
                        } else {
                            Answer::oidc_error(
                                "AuthorizationPendingException",
                                "Authorization is still pending",
                            )
                        }
                    }
                    DeviceDecision::Denied(person) => {
                        ctx.rec.person = Some(person);
                        Answer::oidc_error(
                            "AccessDeniedException",
                            "The user denied the authorization request",
                        )
                    }
                    DeviceDecision::Allowed(person) => {
                        let user_code = device.user_code.clone();
                        state.devices.remove(&device_code);
                        state.user_codes.remove(&user_code);
                        ctx.rec.person = Some(person.clone());
                        let tokens = issue(
                            ctx,
                            &mut state,
                            &person,
                            &client_id,
                            client_scopes,
                            with_refresh,
                        );
                        Answer::Json(tokens.create_token_reply())
                    }
                }
            }))
        }
        other => Checked::Ready(Answer::oidc_error(
            "UnsupportedGrantTypeException",
            format!("Unsupported grant type: {other}"),
        )),
    }
}

pub(crate) fn create_token_with_iam(ctx: &mut Ctx<'_>) -> Checked {
    let sig = ctx.signature(SSO_OAUTH_SIGNING_NAME, true);
    let b = body(ctx, CREATE_TOKEN_WITH_IAM_MEMBERS);
    if !ctx.problems.is_empty() {
        return Checked::Ready(Answer::Status(400));
    }
    let client_id = required!(&b, "clientId");
    let grant_type = required!(&b, "grantType");
    ctx.rec.client_id = Some(client_id.clone());
    ctx.rec.grant_type = Some(grant_type.clone());
    let cfg = &ctx.shared.cfg;
    if let (Some(want), Some(got)) = (&cfg.idc_region, &sig.region)
        && want != got
    {
        return Checked::Ready(Answer::OidcError {
            code: "InvalidRequestRegionException".into(),
            description: format!(
                "The Identity Center instance is in {want}, the request was made in {got}"
            ),
            members: vec![
                ("endpoint", format!("https://oidc.{want}.amazonaws.com")),
                ("region", want.clone()),
            ],
        });
    }
    if let Some(akid) = sig
        .access_key_id
        .as_ref()
        .filter(|k| cfg.denied_bootstrap_keys.contains(k))
    {
        return Checked::Ready(Answer::oidc_error(
            "AccessDeniedException",
            format!(
                "User: arn:aws:sts::{}:assumed-role/Bootstrap/{akid} is not authorized to perform: \
                 sso-oauth:CreateTokenWithIAM on resource: {}",
                super::ACCOUNT,
                cfg.application_arn
            ),
        ));
    }
    if client_id != cfg.application_arn {
        return Checked::Ready(Answer::oidc_error(
            "InvalidClientException",
            format!("Invalid client provided: {client_id} is not a customer managed application"),
        ));
    }
    let scope = strings(&b, "scope");
    let app_scopes = application_scopes(cfg);
    if let Some(msg) = bad_scopes(&app_scopes, &scope) {
        return Checked::Ready(Answer::oidc_error("InvalidScopeException", msg));
    }
    match grant_type.as_str() {
        GRANT_JWT_BEARER => {
            let scope = if scope.is_empty() { app_scopes } else { scope };
            let assertion = required!(&b, "assertion");
            let person = match check_jwt(ctx, &assertion) {
                Ok(p) => p,
                Err(msg) => {
                    return Checked::Ready(Answer::oidc_error("InvalidGrantException", msg));
                }
            };
            Checked::Valid(Box::new(move |ctx: &mut Ctx<'_>| {
                ctx.rec.person = Some(person.name.clone());
                let mut state = super::lock(&ctx.shared.state);
                let tokens = issue(ctx, &mut state, &person.name, &client_id, scope, true);
                Answer::Json(tokens.iam_reply(ctx, &mut state, &person, Some(TOKEN_TYPE_REFRESH)))
            }))
        }
        GRANT_AUTHORIZATION_CODE => {
            let code = required!(&b, "code");
            let verifier = required!(&b, "codeVerifier");
            let redirect = required!(&b, "redirectUri");
            Checked::Valid(Box::new(move |ctx: &mut Ctx<'_>| {
                let mut state = super::lock(&ctx.shared.state);
                // The PKCE verifier is a secret of the run too: it must never be shown.
                state.secrets.push(verifier.clone());
                match redeem_code(&mut state, &client_id, &code, Some(&redirect), &verifier) {
                    Err(answer) => answer,
                    Ok(grant) => {
                        ctx.rec.person = Some(grant.person.clone());
                        let person = ctx
                            .shared
                            .person(&grant.person)
                            .cloned()
                            .expect("known person");
                        let scopes = match grant_scopes(grant.request.scopes.clone(), scope) {
                            Ok(s) => s,
                            Err(answer) => return answer,
                        };
                        let tokens = issue(ctx, &mut state, &person.name, &client_id, scopes, true);
                        Answer::Json(tokens.iam_reply(ctx, &mut state, &person, None))
                    }
                }
            }))
        }
        GRANT_REFRESH_TOKEN => {
            let refresh = required!(&b, "refreshToken");
            refresh_grant(refresh, client_id, scope, |tokens, ctx, state, person| {
                tokens.iam_reply(ctx, state, person, None)
            })
        }
        GRANT_TOKEN_EXCHANGE => {
            let subject = required!(&b, "subjectToken");
            let subject_type = required!(&b, "subjectTokenType");
            if subject_type != TOKEN_TYPE_ACCESS {
                return Checked::Ready(Answer::oidc_error(
                    "InvalidRequestException",
                    format!(
                        "Invalid subjectTokenType: {subject_type} (expected {TOKEN_TYPE_ACCESS})"
                    ),
                ));
            }
            let scope = if scope.is_empty() { app_scopes } else { scope };
            let requested =
                string(&b, "requestedTokenType").unwrap_or_else(|| TOKEN_TYPE_ACCESS.into());
            if requested != TOKEN_TYPE_ACCESS && requested != TOKEN_TYPE_REFRESH {
                return Checked::Ready(Answer::oidc_error(
                    "InvalidRequestException",
                    format!("Invalid requestedTokenType: {requested}"),
                ));
            }
            Checked::Valid(Box::new(move |ctx: &mut Ctx<'_>| {
                let mut state = super::lock(&ctx.shared.state);
                // The subject is an Identity Center access token from CreateToken (a registered
                // client's, not the application's own).
                let session = state
                    .access_tokens
                    .get(&subject)
                    .filter(|s| !s.expired() && s.client_id != client_id)
                    .cloned();
                let Some(session) = session else {
                    return Answer::oidc_error(
                        "InvalidGrantException",
                        "Invalid subject token provided",
                    );
                };
                ctx.rec.person = Some(session.person.clone());
                let person = ctx
                    .shared
                    .person(&session.person)
                    .cloned()
                    .expect("known person");
                let refresh = requested == TOKEN_TYPE_REFRESH;
                let tokens = issue(ctx, &mut state, &person.name, &client_id, scope, refresh);
                Answer::Json(tokens.iam_reply(ctx, &mut state, &person, Some(&requested)))
            }))
        }
        other => Checked::Ready(Answer::oidc_error(
            "UnsupportedGrantTypeException",
            format!("Unsupported grant type: {other}"),
        )),
    }
}

/// Renders a token call's reply from what it issued.
type Reply = fn(&Issued, &Ctx<'_>, &mut Grants, &Person) -> serde_json::Value;

/// The `refresh_token` grant of either token call: a live refresh token of this client buys new
/// tokens (and, with rotation, a new refresh token); `reply` renders them in the call's shape.
fn refresh_grant(refresh: String, client_id: String, scope: Vec<String>, reply: Reply) -> Checked {
    Checked::Valid(Box::new(move |ctx: &mut Ctx<'_>| {
        let mut state = super::lock(&ctx.shared.state);
        match take_refresh(ctx, &mut state, &client_id, &refresh) {
            Err(answer) => answer,
            Ok(mut session) => {
                session.scopes = match grant_scopes(session.scopes, scope) {
                    Ok(s) => s,
                    Err(answer) => return answer,
                };
                ctx.rec.person = Some(session.person.clone());
                let person = ctx
                    .shared
                    .person(&session.person)
                    .cloned()
                    .expect("known person");
                let tokens = issue(
                    ctx,
                    &mut state,
                    &person.name,
                    &client_id,
                    session.scopes,
                    true,
                );
                let tokens = keep_refresh(ctx, &mut state, tokens, &refresh);
                Answer::Json(reply(&tokens, ctx, &mut state, &person))
            }
        }
    }))
}

/// The person a trusted token issuer's JWT names, or why the application refuses it.
fn check_jwt(ctx: &Ctx<'_>, assertion: &str) -> Result<Person, String> {
    let cfg = &ctx.shared.cfg;
    let claims = jwt::verify(assertion, &ctx.shared.key)?;
    if claims["iss"] != cfg.trusted_issuer.as_str() {
        return Err(format!(
            "The JWT issuer {} is not a trusted token issuer of the application",
            claims["iss"]
        ));
    }
    let aud_ok = match &claims["aud"] {
        serde_json::Value::String(a) => *a == cfg.audience,
        serde_json::Value::Array(a) => a.iter().any(|v| *v == cfg.audience.as_str()),
        _ => false,
    };
    if !aud_ok {
        return Err(format!(
            "The JWT audience {} is not the one configured for the trusted token issuer",
            claims["aud"]
        ));
    }
    match claims["exp"].as_i64() {
        Some(exp) if exp > unix_now() => {}
        _ => return Err("The JWT has expired".into()),
    }
    let email = claims["email"].as_str().unwrap_or("");
    ctx.shared
        .person_by_email(email)
        .cloned()
        .ok_or_else(|| format!("No Identity Center user matches the JWT's email {email:?}"))
}

/// Consumes an authorization code after checking the client, redirect URI and PKCE verifier.
fn redeem_code(
    state: &mut Grants,
    client_id: &str,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: &str,
) -> Result<CodeGrant, Answer> {
    let invalid = |msg: &str| Answer::oidc_error("InvalidGrantException", msg);
    // A code is single-use whatever the outcome, as RFC 6749 section 4.1.2 asks.
    let Some(grant) = state.codes.remove(code) else {
        return Err(invalid("Invalid authorization code provided"));
    };
    if SystemTime::now() >= grant.expires {
        return Err(invalid("The authorization code has expired"));
    }
    if grant.request.client_id != client_id {
        return Err(invalid(
            "The authorization code was issued to another client",
        ));
    }
    if redirect_uri != Some(grant.request.redirect_uri.as_str()) {
        return Err(invalid(
            "redirectUri does not match the authorization request",
        ));
    }
    if !jwt::is_code_verifier(verifier) {
        return Err(Answer::oidc_error(
            "InvalidRequestException",
            "codeVerifier must be 43-128 characters of [A-Za-z0-9-._~]",
        ));
    }
    if jwt::pkce_s256(verifier) != grant.request.code_challenge {
        return Err(invalid("codeVerifier does not match the code_challenge"));
    }
    Ok(grant)
}

/// The session of a live refresh token of `client_id`; with rotation it is used up.
fn take_refresh(
    ctx: &Ctx<'_>,
    state: &mut Grants,
    client_id: &str,
    token: &str,
) -> Result<Session, Answer> {
    let session = state
        .refresh_tokens
        .get(token)
        .filter(|s| !s.expired() && s.client_id == client_id)
        .cloned()
        .ok_or_else(|| {
            Answer::oidc_error("InvalidGrantException", "Invalid refresh token provided")
        })?;
    if ctx.shared.cfg.rotate_refresh_tokens {
        state.refresh_tokens.remove(token);
    }
    Ok(session)
}

/// Without rotation the same refresh token comes back.
fn keep_refresh(ctx: &Ctx<'_>, state: &mut Grants, mut tokens: Issued, old: &str) -> Issued {
    if !ctx.shared.cfg.rotate_refresh_tokens
        && let Some(new) = tokens.refresh_token.replace(old.to_owned())
    {
        state.refresh_tokens.remove(&new);
    }
    tokens
}

/// What one successful token call hands out.
struct Issued {
    access_token: String,
    refresh_token: Option<String>,
    scopes: Vec<String>,
    expires_in: u64,
}

/// Issues an access token (and a refresh token) for `person` and `client_id`.
fn issue(
    ctx: &Ctx<'_>,
    state: &mut Grants,
    person: &str,
    client_id: &str,
    scopes: Vec<String>,
    with_refresh: bool,
) -> Issued {
    let cfg = &ctx.shared.cfg;
    let session = |ttl: Duration| Session {
        person: person.to_owned(),
        client_id: client_id.to_owned(),
        scopes: scopes.clone(),
        expires: SystemTime::now() + ttl,
    };
    let p = ctx.shared.person(person).cloned().expect("known person");
    let now = unix_now();
    let claims = serde_json::json!({
        "iss": cfg.issuer_url,
        "sub": p.user_id,
        "username": p.name,
        "email": p.email,
        "client_id": client_id,
        "scope": scopes.join(" "),
        "token_use": "access",
        "iat": now,
        "exp": now + cfg.access_ttl.as_secs() as i64,
        "jti": format!("{:016x}{:016x}", super::random_u64(), super::random_u64()),
    });
    let access_token = jwt::sign(&claims, &ctx.shared.access_key, "access-token-1");
    state.secrets.push(access_token.clone());
    state
        .access_tokens
        .insert(access_token.clone(), session(cfg.access_ttl));
    let refresh_token = with_refresh.then(|| {
        let t = ctx.secret(state, &format!("aor.{person}."));
        state
            .refresh_tokens
            .insert(t.clone(), session(cfg.refresh_ttl));
        t
    });
    Issued {
        access_token,
        refresh_token,
        scopes: scopes.clone(),
        expires_in: cfg.access_ttl.as_secs(),
    }
}

impl Issued {
    fn create_token_reply(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "accessToken": self.access_token,
            "tokenType": "Bearer",
            "expiresIn": self.expires_in,
        });
        if let Some(r) = &self.refresh_token {
            v["refreshToken"] = r.as_str().into();
        }
        v
    }

    /// CreateTokenWithIAM's reply: tokens, an ID token naming the person, and the identity
    /// context (in the ID token's `sts:identity_context` and in `awsAdditionalDetails`).
    fn iam_reply(
        &self,
        ctx: &Ctx<'_>,
        state: &mut Grants,
        person: &Person,
        issued_type: Option<&str>,
    ) -> serde_json::Value {
        let cfg = &ctx.shared.cfg;
        let now = unix_now();
        let exp = now + self.expires_in as i64;
        let granted = |scope: &str| self.scopes.iter().any(|s| s == scope);
        let mut v = serde_json::json!({
            "accessToken": self.access_token,
            "tokenType": "Bearer",
            "expiresIn": self.expires_in,
        });
        if let Some(r) = &self.refresh_token {
            v["refreshToken"] = r.as_str().into();
        }
        if let Some(t) = issued_type {
            v["issuedTokenType"] = t.into();
        }
        if !self.scopes.is_empty() {
            v["scope"] = self.scopes.clone().into();
        }
        let context = granted(SCOPE_IDENTITY_CONTEXT).then(|| {
            let context = self.identity_context(ctx, state, person, exp);
            v["awsAdditionalDetails"] = serde_json::json!({ "identityContext": context });
            context
        });
        if !granted(SCOPE_OPENID) {
            return v;
        }
        let mut id_claims = serde_json::json!({
            "iss": format!("https://identitycenter.amazonaws.com/{INSTANCE_ID}"),
            "sub": person.user_id,
            "aud": cfg.application_arn,
            "iat": now,
            "exp": exp,
            "jti": format!("{:016x}", super::random_u64()),
            "email": person.email,
            "username": person.name,
        });
        if granted(SCOPE_AWS) {
            id_claims["aws:identity_store_id"] = IDENTITY_STORE_ID.into();
            id_claims["aws:identity_store_arn"] = format!(
                "arn:aws:identitystore::{}:identitystore/{IDENTITY_STORE_ID}",
                super::ACCOUNT
            )
            .into();
            id_claims["aws:instance_account"] = super::ACCOUNT.into();
            id_claims["aws:instance_arn"] = format!("arn:aws:sso:::instance/{INSTANCE_ID}").into();
            id_claims["aws:application_arn"] = cfg.application_arn.clone().into();
        }
        if let Some(context) = context {
            id_claims["sts:identity_context"] = context.into();
            id_claims["sts:audit_context"] =
                jwt::b64(format!("audit:{}", person.user_id).as_bytes()).into();
        }
        let id_token = jwt::sign(&id_claims, &ctx.shared.key, "identity-center-1");
        state.secrets.push(id_token.clone());
        v["idToken"] = id_token.into();
        v
    }

    /// A new identity context for `person`, remembered so AssumeRole can check it.
    fn identity_context(
        &self,
        ctx: &Ctx<'_>,
        state: &mut Grants,
        person: &Person,
        exp: i64,
    ) -> String {
        let cfg = &ctx.shared.cfg;
        let context_claims = serde_json::json!({
            "v": 1,
            "user": person.user_id,
            "store": IDENTITY_STORE_ID,
            "app": cfg.application_arn,
            "exp": exp,
            "n": format!("{:016x}", super::random_u64()),
        });
        let context = jwt::b64(context_claims.to_string().as_bytes());
        state.secrets.push(context.clone());
        state.contexts.insert(
            context.clone(),
            Session {
                person: person.name.clone(),
                client_id: cfg.application_arn.clone(),
                scopes: self.scopes.clone(),
                expires: SystemTime::now() + cfg.access_ttl,
            },
        );
        context
    }
}

/// `GET /authorize`: checks the request the way Identity Center's page does, then serves a
/// sign-in page that submits itself at once (the test person needs no keyboard).
pub(crate) fn authorize(ctx: &mut Ctx<'_>) -> Checked {
    let q = ctx.req.query_pairs();
    let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let client_id = get("client_id").unwrap_or_default();
    ctx.rec.client_id = Some(client_id.clone());
    let page400 = |title: &str, text: String| {
        Checked::Ready(Answer::Html {
            status: 400,
            body: page(title, &text),
        })
    };
    // Which redirect URIs the client may use: a registered client's, or any loopback URI for
    // the application (its AuthorizationCode grant lists them; loopback ports vary).
    let allowed: Option<(Vec<String>, Vec<String>)> = if client_id == ctx.shared.cfg.application_arn
    {
        Some((Vec::new(), application_scopes(&ctx.shared.cfg)))
    } else {
        super::lock(&ctx.shared.state)
            .clients
            .get(&client_id)
            .filter(|c| !c.expired())
            .filter(|c| c.grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE))
            .map(|c| (c.redirect_uris.clone(), c.scopes.clone()))
    };
    let Some((uris, scopes_allowed)) = allowed else {
        return page400(
            "Invalid client",
            format!("client_id {client_id:?} is not known"),
        );
    };
    let redirect_uri = get("redirect_uri").unwrap_or_default();
    let redirect_ok = match loopback(&redirect_uri) {
        None => false,
        Some(_) if uris.is_empty() => true,
        Some(_) => registered(&uris, &redirect_uri),
    };
    if !redirect_ok {
        return page400(
            "Invalid redirect URI",
            format!("redirect_uri {redirect_uri:?} is not a registered loopback URI"),
        );
    }
    let state_param = get("state").unwrap_or_default();
    let error = |code: &str, description: String| {
        Checked::Ready(redirect(
            &redirect_uri,
            &[
                ("error", code),
                ("error_description", &description),
                ("state", &state_param),
            ],
        ))
    };
    if get("response_type").as_deref() != Some("code") {
        return error(
            "unsupported_response_type",
            "response_type must be code".into(),
        );
    }
    if state_param.is_empty() {
        return error("invalid_request", "state is required".into());
    }
    if get("code_challenge_method").as_deref() != Some("S256") {
        return error(
            "invalid_request",
            "code_challenge_method must be S256".into(),
        );
    }
    let challenge = get("code_challenge").unwrap_or_default();
    if challenge.len() != 43 || jwt::b64url_decode(&challenge).is_none_or(|b| b.len() != 32) {
        return error(
            "invalid_request",
            "code_challenge must be the base64url SHA-256 of the code verifier".into(),
        );
    }
    let scopes: Vec<String> = get("scopes")
        .or_else(|| get("scope"))
        .unwrap_or_default()
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return error("invalid_scope", "scopes are required".into());
    }
    if let Some(msg) = bad_scopes(&scopes_allowed, &scopes) {
        return error("invalid_scope", msg);
    }
    let request = AuthorizeRequest {
        client_id,
        redirect_uri,
        state: state_param,
        code_challenge: challenge,
        scopes,
    };
    Checked::Valid(Box::new(move |ctx: &mut Ctx<'_>| {
        let mut state = super::lock(&ctx.shared.state);
        let session = format!("{:016x}{:016x}", super::random_u64(), super::random_u64());
        state.pending.insert(session.clone(), request);
        let person = super::lock(&ctx.shared.browser_person).clone();
        ctx.rec.person = Some(person.clone());
        Answer::Html {
            status: 200,
            body: format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign in</title></head>\
                 <body><h1>Identity Center stand-in</h1><p>Signing in as {person}&hellip;</p>\
                 <form method=\"post\" action=\"/authorize/approve\">\
                 <input type=\"hidden\" name=\"session\" value=\"{session}\">\
                 <noscript><button type=\"submit\">Allow</button></noscript></form>\
                 <script>document.forms[0].submit();</script></body></html>\n"
            ),
        }
    }))
}

/// `POST /authorize/approve`: the person allowed access; redirect with a fresh code.
pub(crate) fn approve(ctx: &mut Ctx<'_>) -> Checked {
    let ct = ctx.req.header("content-type").unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        ctx.problem(format!("content-type {ct:?}, expected a submitted form"));
        return Checked::Ready(Answer::Status(400));
    }
    let body = ctx.req.body.clone().unwrap_or_default();
    let session = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "session")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let request = super::lock(&ctx.shared.state)
        .pending
        .get(&session)
        .cloned();
    let Some(request) = request else {
        return Checked::Ready(Answer::Html {
            status: 400,
            body: page(
                "Sign-in expired",
                "This sign-in page is not valid any more.",
            ),
        });
    };
    ctx.rec.client_id = Some(request.client_id.clone());
    Checked::Valid(Box::new(move |ctx: &mut Ctx<'_>| {
        let mut state = super::lock(&ctx.shared.state);
        state.pending.remove(&session);
        let person = super::lock(&ctx.shared.browser_person).clone();
        ctx.rec.person = Some(person.clone());
        let code = ctx.secret(&mut state, "code.");
        let (uri, st) = (request.redirect_uri.clone(), request.state.clone());
        state.codes.insert(
            code.clone(),
            CodeGrant {
                request,
                person,
                expires: SystemTime::now() + CODE_TTL,
            },
        );
        redirect(&uri, &[("code", &code), ("state", &st)])
    }))
}

/// `POST /device_authorization`: a registered, live client with the device code grant starts a
/// device authorization for the access portal `startUrl`.
pub(crate) fn start_device_authorization(ctx: &mut Ctx<'_>) -> Checked {
    ctx.signature(SSO_OAUTH_SIGNING_NAME, false);
    let b = body(ctx, START_DEVICE_AUTHORIZATION_MEMBERS);
    let client_id = required!(&b, "clientId");
    let client_secret = required!(&b, "clientSecret");
    let start_url = required!(&b, "startUrl");
    ctx.rec.client_id = Some(client_id.clone());
    let live = live_client(&super::lock(&ctx.shared.state), &client_id, &client_secret);
    let grants = match live {
        Ok((grants, _)) => grants,
        Err(answer) => return Checked::Ready(answer),
    };
    if !grants.iter().any(|g| g == GRANT_DEVICE_CODE) {
        return Checked::Ready(Answer::oidc_error(
            "UnauthorizedClientException",
            format!("Client is not authorized for the {GRANT_DEVICE_CODE} grant"),
        ));
    }
    if start_url != ctx.shared.cfg.start_url {
        return Checked::Ready(Answer::oidc_error(
            "InvalidRequestException",
            format!(
                "Invalid startUrl: {start_url} is not the AWS access portal URL of this IAM Identity Center instance"
            ),
        ));
    }
    let base = format!("http://{}", ctx.req.header("host").unwrap_or("127.0.0.1"));
    Checked::Valid(Box::new(move |ctx: &mut Ctx<'_>| {
        let cfg = &ctx.shared.cfg;
        let (ttl, interval) = (cfg.device_ttl, cfg.device_interval);
        let mut state = super::lock(&ctx.shared.state);
        let device_code = ctx.secret(&mut state, "dc.");
        // Eight letters without vowels, grouped like the service's (`ABCD-EFGH`).
        const LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
        let mut n = super::random_u64();
        let mut user_code = String::new();
        for i in 0..8 {
            if i == 4 {
                user_code.push('-');
            }
            user_code.push(LETTERS[(n % LETTERS.len() as u64) as usize] as char);
            n /= LETTERS.len() as u64;
        }
        state
            .user_codes
            .insert(user_code.clone(), device_code.clone());
        state.devices.insert(
            device_code.clone(),
            DeviceGrant {
                client_id,
                user_code: user_code.clone(),
                expires: SystemTime::now() + ttl,
                interval,
                last_poll: None,
                decision: DeviceDecision::Pending,
            },
        );
        Answer::Json(serde_json::json!({
            "deviceCode": device_code,
            "userCode": user_code,
            "verificationUri": format!("{base}/device"),
            "verificationUriComplete": format!("{base}/device?user_code={user_code}"),
            "expiresIn": ttl.as_secs(),
            "interval": interval.as_secs(),
        }))
    }))
}

/// The device authorization a user code names, if it is still waiting for its person.
fn pending_device<'a>(state: &'a mut Grants, user_code: &str) -> Option<&'a mut DeviceGrant> {
    let device_code = state.user_codes.get(user_code)?.clone();
    state
        .devices
        .get_mut(&device_code)
        .filter(|d| SystemTime::now() < d.expires && d.decision == DeviceDecision::Pending)
}

/// `GET /device[?user_code=...]`: the verification page. With a live user code it shows a form
/// that allows the request as the browser's person and submits itself (as `/authorize` does);
/// a test playing the person posts the form itself to deny, or to answer as someone else.
pub(crate) fn device_page(ctx: &mut Ctx<'_>) -> Checked {
    let q = ctx.req.query_pairs();
    let Some(user_code) = q
        .iter()
        .find(|(k, _)| k == "user_code")
        .map(|(_, v)| v.clone())
    else {
        return Checked::Ready(Answer::Html {
            status: 200,
            body: "<!doctype html><html><head><meta charset=\"utf-8\"><title>Authorize request</title></head>\
                   <body><h1>Authorize request</h1><form method=\"get\" action=\"/device\">\
                   <label>Code <input name=\"user_code\"></label><button type=\"submit\">Next</button>\
                   </form></body></html>\n"
                .into(),
        });
    };
    if pending_device(&mut super::lock(&ctx.shared.state), &user_code).is_none() {
        return Checked::Ready(Answer::Html {
            status: 400,
            body: page(
                "Invalid code",
                &format!("The code {user_code} is not valid, has expired or was already used."),
            ),
        });
    }
    Checked::Valid(Box::new(move |ctx: &mut Ctx<'_>| {
        let person = super::lock(&ctx.shared.browser_person).clone();
        ctx.rec.person = Some(person.clone());
        let code = super::html_escape(&user_code);
        Answer::Html {
            status: 200,
            body: format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>Authorize request</title></head>\
                 <body><h1>Identity Center stand-in</h1><p>Allowing request {code} as {person}&hellip;</p>\
                 <form method=\"post\" action=\"/device/approve\">\
                 <input type=\"hidden\" name=\"user_code\" value=\"{code}\">\
                 <input type=\"hidden\" name=\"person\" value=\"{person}\">\
                 <input type=\"hidden\" name=\"decision\" value=\"allow\">\
                 <noscript><button type=\"submit\">Allow</button></noscript></form>\
                 <script>document.forms[0].submit();</script></body></html>\n"
            ),
        }
    }))
}

/// `POST /device/approve` (`user_code`, `person`, `decision=allow|deny`): the person's answer.
pub(crate) fn device_approve(ctx: &mut Ctx<'_>) -> Checked {
    let ct = ctx.req.header("content-type").unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        ctx.problem(format!("content-type {ct:?}, expected a submitted form"));
        return Checked::Ready(Answer::Status(400));
    }
    let body = ctx.req.body.clone().unwrap_or_default();
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (user_code, person, decision) = (get("user_code"), get("person"), get("decision"));
    if ctx.shared.person(&person).is_none() {
        return Checked::Ready(Answer::Html {
            status: 400,
            body: page("No such person", &person),
        });
    }
    ctx.rec.person = Some(person.clone());
    let allow = match decision.as_str() {
        "allow" => true,
        "deny" => false,
        other => {
            ctx.problem(format!("decision {other:?}, expected allow or deny"));
            return Checked::Ready(Answer::Status(400));
        }
    };
    if pending_device(&mut super::lock(&ctx.shared.state), &user_code).is_none() {
        return Checked::Ready(Answer::Html {
            status: 400,
            body: page(
                "Invalid code",
                &format!("The code {user_code} is not valid, has expired or was already used."),
            ),
        });
    }
    Checked::Valid(Box::new(move |ctx: &mut Ctx<'_>| {
        let mut state = super::lock(&ctx.shared.state);
        if let Some(d) = pending_device(&mut state, &user_code) {
            d.decision = if allow {
                DeviceDecision::Allowed(person)
            } else {
                DeviceDecision::Denied(person)
            };
        }
        let (title, text) = if allow {
            ("Request approved", "You may now close this window.")
        } else {
            (
                "Request denied",
                "The request was denied. You may now close this window.",
            )
        };
        Answer::Html {
            status: 200,
            body: page(title, text),
        }
    }))
}

/// An injected browser-side failure: a redirect with `error=` when the redirect URI is known.
pub(crate) fn redirect_error(ctx: &Ctx<'_>, code: &str, description: &str) -> Answer {
    let target = match ctx.rec.op {
        super::Op::Authorize => {
            let q = ctx.req.query_pairs();
            let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            get("redirect_uri").zip(get("state"))
        }
        _ => {
            let body = ctx.req.body.clone().unwrap_or_default();
            let session = form_urlencoded::parse(&body)
                .find(|(k, _)| k == "session")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            super::lock(&ctx.shared.state)
                .pending
                .get(&session)
                .map(|r| (r.redirect_uri.clone(), r.state.clone()))
        }
    };
    match target {
        Some((uri, state)) => redirect(
            &uri,
            &[
                ("error", code),
                ("error_description", description),
                ("state", &state),
            ],
        ),
        None => Answer::Html {
            status: 400,
            body: page("Sign-in failed", description),
        },
    }
}

/// A 302 to `uri` with `params` added to its query.
fn redirect(uri: &str, params: &[(&str, &str)]) -> Answer {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        query.append_pair(k, v);
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    Answer::Redirect(format!("{uri}{sep}{}", query.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_uris_match_without_their_port() {
        assert_eq!(
            loopback("http://127.0.0.1:7890/oauth/callback"),
            Some(("http://127.0.0.1/oauth/callback".into(), Some(7890)))
        );
        assert_eq!(
            loopback("http://localhost/cb"),
            Some(("http://localhost/cb".into(), None))
        );
        assert_eq!(
            loopback("http://[::1]:80/x"),
            Some(("http://[::1]/x".into(), Some(80)))
        );
        assert_eq!(loopback("https://127.0.0.1:1/x"), None);
        assert_eq!(loopback("http://127.0.0.1.evil.test/x"), None);
        assert_eq!(loopback("http://127.0.0.1:0/x"), None);
        assert_eq!(loopback("http://127.0.0.1:x/x"), None);
        assert_eq!(loopback("http://example.com:80/x"), None);
        let reg = vec!["http://127.0.0.1/oauth/callback".to_string()];
        assert!(registered(&reg, "http://127.0.0.1:5555/oauth/callback"));
        assert!(!registered(&reg, "http://127.0.0.1:5555/other"));
    }

    #[test]
    fn redirects_append_encoded_parameters() {
        let Answer::Redirect(to) = redirect(
            "http://127.0.0.1:1/cb",
            &[("code", "a b"), ("state", "x&y=")],
        ) else {
            panic!()
        };
        assert_eq!(to, "http://127.0.0.1:1/cb?code=a+b&state=x%26y%3D");
        let Answer::Redirect(to) = redirect("http://127.0.0.1:1/cb?k=1", &[("code", "c")]) else {
            panic!()
        };
        assert_eq!(to, "http://127.0.0.1:1/cb?k=1&code=c");
    }
}
