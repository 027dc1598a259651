//! What a token is for: validated cluster ids and workgroup names, and the host-name parser
//! that derives them the way the Redshift drivers do.
//!
//! Invalid targets are unrepresentable past this module: `ClusterId` and `WorkgroupName` can
//! only be built through `FromStr`, which enforces the service's own rules, so a bad value is
//! rejected before any credentials are resolved or any request is sent.

use std::fmt;
use std::str::FromStr;

/// The most targets one `GetIdentityCenterAuthToken` call accepts (both services).
pub const MAX_TARGETS: usize = 20;

/// A target value that breaks a service rule; `Display` names the value and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} '{value}': {rule}")]
pub struct InvalidTarget {
    pub kind: &'static str,
    pub value: String,
    pub rule: &'static str,
}

/// A provisioned cluster identifier: 1-63 ASCII letters, digits and hyphens, starting with a
/// letter, not ending with a hyphen, without two consecutive hyphens.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterId(String);

/// A Redshift Serverless workgroup name: 3-64 characters of `[a-z0-9-]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkgroupName(String);

impl FromStr for ClusterId {
    type Err = InvalidTarget;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |rule| {
            Err(InvalidTarget {
                kind: "cluster id",
                value: printable(s),
                rule,
            })
        };
        if s.is_empty() || s.len() > 63 {
            return fail("must be 1-63 characters long");
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return fail("may contain only ASCII letters, digits and hyphens");
        }
        if !s.as_bytes()[0].is_ascii_alphabetic() {
            return fail("must start with a letter");
        }
        if s.ends_with('-') {
            return fail("must not end with a hyphen");
        }
        if s.contains("--") {
            return fail("must not contain two consecutive hyphens");
        }
        // Redshift stores cluster identifiers in lower case and matches them case-insensitively;
        // normalising here makes `MyCluster` and `mycluster` one target (and one cache key).
        Ok(ClusterId(s.to_ascii_lowercase()))
    }
}

impl FromStr for WorkgroupName {
    type Err = InvalidTarget;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |rule| {
            Err(InvalidTarget {
                kind: "workgroup name",
                value: printable(s),
                rule,
            })
        };
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return fail("may contain only lower-case letters, digits and hyphens [a-z0-9-]");
        }
        if s.len() < 3 || s.len() > 64 {
            return fail("must be 3-64 characters long");
        }
        Ok(WorkgroupName(s.to_owned()))
    }
}

impl ClusterId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl WorkgroupName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for WorkgroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which API a token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Amazon Redshift (provisioned clusters), awsQuery protocol.
    Redshift,
    /// Amazon Redshift Serverless, awsJson1.1 protocol.
    Serverless,
}

impl Service {
    /// The service's name as AWS spells it in endpoints and signing scopes.
    pub fn name(self) -> &'static str {
        match self {
            Service::Redshift => "redshift",
            Service::Serverless => "redshift-serverless",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "redshift" => Some(Service::Redshift),
            "redshift-serverless" => Some(Service::Serverless),
            _ => None,
        }
    }
}

/// One call's targets: 1-20 distinct values of one kind, sorted (so the order the user typed
/// them in changes neither the request nor the cache key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Targets {
    Clusters(Vec<ClusterId>),
    Workgroups(Vec<WorkgroupName>),
}

/// Why a set of targets cannot be used for one call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetsError {
    #[error("no target given: pass --cluster-id, --workgroup or --host")]
    Empty,
    #[error(
        "{count} targets given: one call accepts at most {MAX_TARGETS} distinct cluster ids or workgroup names"
    )]
    TooMany { count: usize },
}

impl Targets {
    pub fn clusters(mut ids: Vec<ClusterId>) -> Result<Self, TargetsError> {
        ids.sort();
        ids.dedup();
        check_count(ids.len())?;
        Ok(Targets::Clusters(ids))
    }

    pub fn workgroups(mut names: Vec<WorkgroupName>) -> Result<Self, TargetsError> {
        names.sort();
        names.dedup();
        check_count(names.len())?;
        Ok(Targets::Workgroups(names))
    }

    pub fn service(&self) -> Service {
        match self {
            Targets::Clusters(_) => Service::Redshift,
            Targets::Workgroups(_) => Service::Serverless,
        }
    }

    /// The target names, sorted.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Targets::Clusters(v) => v.iter().map(ClusterId::as_str).collect(),
            Targets::Workgroups(v) => v.iter().map(WorkgroupName::as_str).collect(),
        }
    }
}

impl fmt::Display for Targets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Targets::Clusters(_) => "cluster",
            Targets::Workgroups(_) => "workgroup",
        };
        write!(f, "{kind} {}", self.names().join(","))
    }
}

fn check_count(count: usize) -> Result<(), TargetsError> {
    match count {
        0 => Err(TargetsError::Empty),
        n if n > MAX_TARGETS => Err(TargetsError::TooMany { count: n }),
        _ => Ok(()),
    }
}

/// A target and region derived from a Redshift endpoint host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTarget {
    pub targets: Targets,
    pub region: String,
}

/// A host name that is not a standard Redshift endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot derive a cluster or workgroup from host '{host}' ({reason}); for a CNAME, VPC endpoint or custom domain pass --cluster-id or --workgroup, and --region"
)]
pub struct InvalidHost {
    pub host: String,
    pub reason: &'static str,
}

/// Derives the target and region from a Redshift endpoint, as the drivers do:
/// `CLUSTER.XXXX.REGION.redshift.amazonaws.com` and
/// `WORKGROUP.ACCOUNT.REGION.redshift-serverless.amazonaws.com`, also under
/// `.amazonaws.com.cn`, with an optional `:port`, or inside a `jdbc:redshift://host:port/db` URL.
pub fn parse_host(input: &str) -> Result<HostTarget, InvalidHost> {
    let fail = |reason| InvalidHost {
        host: printable(input),
        reason,
    };
    let input = input.trim();
    if let Some(short) = iam_short_form(input) {
        return short.map_err(fail);
    }
    let host = host_part(input).map_err(fail)?;
    let host = host.to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host);
    if host.split('.').any(str::is_empty) {
        return Err(fail(
            "it has an empty label (a leading dot or two dots in a row)",
        ));
    }
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))
        .ok_or_else(|| fail("not under amazonaws.com"))?;
    let labels: Vec<&str> = rest.split('.').collect();
    let [name, _account_or_id, region, service] = labels[..] else {
        return Err(fail(
            "not of the form NAME.ID.REGION.redshift[-serverless].amazonaws.com",
        ));
    };
    if !is_region(region) {
        return Err(fail("the region part is not a region name"));
    }
    let targets = match service {
        "redshift" => {
            let id: ClusterId = name.parse().map_err(|_| fail("invalid cluster id in it"))?;
            Targets::Clusters(vec![id])
        }
        "redshift-serverless" => {
            let wg: WorkgroupName = name
                .parse()
                .map_err(|_| fail("invalid workgroup name in it"))?;
            Targets::Workgroups(vec![wg])
        }
        _ => return Err(fail("not a redshift or redshift-serverless endpoint")),
    };
    Ok(HostTarget {
        targets,
        region: region.to_owned(),
    })
}

/// The drivers' IAM URL without a host name, `jdbc:redshift:iam://CLUSTER:REGION/DB`: the
/// driver looks the endpoint up itself; the cluster id and region are all a token needs.
/// `None` when `input` is not of that shape (a full host name, with or without a port).
/// Redshift Serverless has no such form: its IAM URLs carry the workgroup's host name.
fn iam_short_form(input: &str) -> Option<Result<HostTarget, &'static str>> {
    const PREFIX: &str = "jdbc:redshift:iam://";
    let rest = input
        .get(..PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(PREFIX))
        .map(|_| &input[PREFIX.len()..])?;
    let authority = rest.split(['/', '?', ';', '#']).next().unwrap_or_default();
    let (name, region) = authority.rsplit_once(':')?;
    if name.contains('.') || region.is_empty() || region.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    const FORM: &str = "not of the form jdbc:redshift:iam://CLUSTER:REGION/DB (the region part is not a region name); for Redshift Serverless use the workgroup's host name";
    let region = region.to_ascii_lowercase();
    if !is_region(&region) {
        return Some(Err(FORM));
    }
    let Ok(id) = name.parse::<ClusterId>() else {
        return Some(Err(
            "invalid cluster id in jdbc:redshift:iam://CLUSTER:REGION/DB",
        ));
    };
    Some(Ok(HostTarget {
        targets: Targets::Clusters(vec![id]),
        region,
    }))
}

/// The host of `host`, `host:port`, `scheme://[user@]host[:port][/...]` or a JDBC URL. A port
/// must be 1-65535, as the drivers require.
fn host_part(input: &str) -> Result<&str, &'static str> {
    let after_scheme = match input.find("://") {
        Some(i) => &input[i + 3..],
        None => input,
    };
    let authority = after_scheme
        .split(['/', '?', ';', '#'])
        .next()
        .unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => match port.parse::<u32>() {
            Ok(1..=65535) => h,
            _ => return Err("the port must be 1-65535"),
        },
        Some(_) => return Err("the port must be 1-65535"),
        None => host_port,
    };
    if host.is_empty() {
        return Err("no host name in it");
    }
    Ok(host)
}

/// Region names: lower-case letters, digits and hyphens, with a digit at the end
/// (`us-east-1`, `cn-north-1`, `us-gov-west-1`, `eu-isoe-west-1`).
pub fn is_region(s: &str) -> bool {
    (4..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.as_bytes()[s.len() - 1].is_ascii_digit()
        && s.contains('-')
}

/// A value made safe to echo in a one-line error: control characters escaped, length capped.
pub fn printable(s: &str) -> String {
    const MAX: usize = 100;
    let mut out: String = s.chars().take(MAX).flat_map(char::escape_default).collect();
    if s.chars().count() > MAX {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rule(r: Result<ClusterId, InvalidTarget>) -> &'static str {
        r.unwrap_err().rule
    }

    #[test]
    fn cluster_id_rules() {
        assert_eq!("a".parse::<ClusterId>().unwrap().as_str(), "a");
        assert_eq!(
            "My-Cluster1".parse::<ClusterId>().unwrap().as_str(),
            "my-cluster1"
        );
        assert_eq!(rule("".parse()), "must be 1-63 characters long");
        assert_eq!(rule("a".repeat(64).parse()), "must be 1-63 characters long");
        assert!("a".repeat(63).parse::<ClusterId>().is_ok());
        assert_eq!(rule("1abc".parse()), "must start with a letter");
        assert_eq!(rule("-abc".parse()), "must start with a letter");
        assert_eq!(rule("abc-".parse()), "must not end with a hyphen");
        assert_eq!(
            rule("a--b".parse()),
            "must not contain two consecutive hyphens"
        );
        assert_eq!(
            rule("a_b".parse()),
            "may contain only ASCII letters, digits and hyphens"
        );
        assert_eq!(
            rule("é".parse()),
            "may contain only ASCII letters, digits and hyphens"
        );
    }

    #[test]
    fn workgroup_rules() {
        assert!("abc".parse::<WorkgroupName>().is_ok());
        assert!("a".repeat(64).parse::<WorkgroupName>().is_ok());
        let err = "ab".parse::<WorkgroupName>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid workgroup name 'ab': must be 3-64 characters long"
        );
        assert!("a".repeat(65).parse::<WorkgroupName>().is_err());
        assert!("Abc".parse::<WorkgroupName>().is_err());
        assert!("a_bc".parse::<WorkgroupName>().is_err());
        assert!(
            "-ab".parse::<WorkgroupName>().is_ok(),
            "the service allows any [a-z0-9-]"
        );
    }

    #[test]
    fn targets_dedup_sort_and_count() {
        let ids = |v: &[&str]| {
            v.iter()
                .map(|s| s.parse().unwrap())
                .collect::<Vec<ClusterId>>()
        };
        let t = Targets::clusters(ids(&["b", "a", "B"])).unwrap();
        assert_eq!(t.names(), ["a", "b"]);
        assert_eq!(Targets::clusters(vec![]), Err(TargetsError::Empty));
        let many: Vec<String> = (0..21).map(|i| format!("c{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            Targets::clusters(ids(&many)),
            Err(TargetsError::TooMany { count: 21 })
        );
        assert!(Targets::clusters(ids(&many[..20])).is_ok());
    }

    #[test]
    fn hosts() {
        let p = |h| parse_host(h).unwrap();
        let t = p("examplecluster.abc123xyz789.us-west-2.redshift.amazonaws.com");
        assert_eq!(t.region, "us-west-2");
        assert_eq!(t.targets.names(), ["examplecluster"]);
        assert_eq!(t.targets.service(), Service::Redshift);
        let t = p(
            "jdbc:redshift://ExampleCluster.abc.cn-north-1.redshift.amazonaws.com.cn:5439/dev?ssl=true",
        );
        assert_eq!(
            (t.region.as_str(), t.targets.names()),
            ("cn-north-1", vec!["examplecluster"])
        );
        let t = p("default-wg.123456789012.eu-west-1.redshift-serverless.amazonaws.com:5439");
        assert_eq!(t.targets.service(), Service::Serverless);
        assert_eq!(t.targets.names(), ["default-wg"]);
        assert_eq!(t.region, "eu-west-1");
        let t = p("jdbc:redshift:iam://wg1.1.us-gov-west-1.redshift-serverless.amazonaws.com/dev");
        assert_eq!(t.region, "us-gov-west-1");

        for bad in [
            "",
            "localhost",
            "db.example.com",
            "vpce-0123.redshift.us-east-1.vpce.amazonaws.com",
            "c.x.us-east-1.ec2.amazonaws.com",
            "c.x.notaregion.redshift.amazonaws.com",
            "c.us-east-1.redshift.amazonaws.com",
            "c--x.id.us-east-1.redshift.amazonaws.com",
            "host:notaport",
        ] {
            let err = parse_host(bad).unwrap_err();
            assert!(
                err.to_string()
                    .contains("--cluster-id or --workgroup, and --region"),
                "{err}"
            );
        }
    }

    #[test]
    fn printable_escapes_control_characters() {
        assert_eq!(printable("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(printable(&"x".repeat(150)).len(), 103);
    }

    proptest! {
        #[test]
        fn cluster_id_accepts_exactly_the_rule(s in "[a-zA-Z0-9_-]{0,70}") {
            let b = s.as_bytes();
            let valid = (1..=63).contains(&s.len())
                && b[0].is_ascii_alphabetic()
                && !s.ends_with('-')
                && !s.contains("--")
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-');
            prop_assert_eq!(s.parse::<ClusterId>().is_ok(), valid);
        }

        #[test]
        fn workgroup_accepts_exactly_the_rule(s in "[a-z0-9A-Z_-]{0,70}") {
            let valid = (3..=64).contains(&s.len())
                && s.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
            prop_assert_eq!(s.parse::<WorkgroupName>().is_ok(), valid);
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,200}") {
            let _ = s.parse::<ClusterId>();
            let _ = s.parse::<WorkgroupName>();
            let _ = parse_host(&s);
        }

        #[test]
        fn generated_hosts_round_trip(
            id in "[a-z][a-z0-9]{0,20}(-[a-z0-9]{1,5}){0,3}",
            region in "(us|eu|ap|cn)-(east|west|north)-[1-9]",
            port in proptest::option::of(1u16..),
            serverless in any::<bool>(),
        ) {
            prop_assume!(!serverless || id.len() >= 3);
            let svc = if serverless { "redshift-serverless" } else { "redshift" };
            let mut host = format!("{id}.abc123.{region}.{svc}.amazonaws.com");
            if let Some(p) = port { host = format!("jdbc:redshift://{host}:{p}/dev"); }
            let t = parse_host(&host).unwrap();
            prop_assert_eq!(t.region, region);
            prop_assert_eq!(t.targets.names(), vec![id.as_str()]);
        }
    }
}
