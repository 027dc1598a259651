//! `cache::decode` on well-formed entries with fuzzed field values: an entry the library
//! itself encoded (so the shape follows the current schema, whatever fields it gains), with
//! the times, the token and the key fields replaced. Times are generated as RFC 3339 from
//! parts (any offset, fraction or leap second) or taken raw. Same checks as `cache_decode`.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use redshift_idc_token::cache::{CacheKey, Entry};
use redshift_idc_token::env::Env;
use redshift_idc_token::aws::config::chain::fingerprint;
use redshift_idc_token::aws::config::shared_config::SharedConfig;
use redshift_idc_token::target::Targets;
use redshift_idc_token::token::{AuthToken, Secret};
use redshift_idc_token_fuzz::{NOW, check_cache_entry};
use serde_json::Value;

#[derive(Arbitrary, Debug)]
enum Time {
    Raw(String),
    Parts {
        date: Date,
        hour: u8,
        minute: u8,
        second: u8,
        fraction: Option<u32>,
        /// None is `Z`; else (negative, hours, minutes).
        offset: Option<(bool, u8, u8)>,
    },
}

/// The ends of the four-digit year range are where an offset takes a time out of it.
#[derive(Arbitrary, Debug)]
enum Date {
    First,
    Last,
    Ymd(u16, u8, u8),
}

impl Time {
    fn render(&self) -> String {
        match self {
            Time::Raw(s) => s.clone(),
            &Time::Parts {
                ref date,
                hour,
                minute,
                second,
                fraction,
                offset,
            } => {
                let mut s = match *date {
                    Date::First => "0000-01-01".to_owned(),
                    Date::Last => "9999-12-31".to_owned(),
                    Date::Ymd(y, m, d) => {
                        format!("{:04}-{:02}-{:02}", y % 10000, 1 + m % 12, 1 + d % 31)
                    }
                };
                s.push_str(&format!(
                    "T{:02}:{:02}:{:02}",
                    hour % 24,
                    minute % 60,
                    second % 61
                ));
                if let Some(f) = fraction {
                    s.push_str(&format!(".{}", f % 1_000_000_000));
                }
                match offset {
                    None => s.push('Z'),
                    Some((neg, h, m)) => {
                        let sign = if neg { '-' } else { '+' };
                        s.push_str(&format!("{sign}{:02}:{:02}", h % 24, m % 60));
                    }
                }
                s
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Fields {
    fetched: Option<Time>,
    expiration: Option<Time>,
    token: Option<String>,
    service: Option<String>,
    region: Option<String>,
    endpoint: Option<Option<String>>,
    profile: Option<String>,
    targets: Option<Vec<String>>,
}

/// An entry as the library writes it, as a JSON object.
fn base() -> &'static serde_json::Map<String, Value> {
    static BASE: OnceLock<serde_json::Map<String, Value>> = OnceLock::new();
    BASE.get_or_init(|| {
        let now = SystemTime::UNIX_EPOCH + NOW;
        let targets = Targets::clusters(vec!["c1".parse().unwrap()]).unwrap();
        let identity = fingerprint(
            &Env::from_pairs([]),
            &SharedConfig::default(),
            "default",
            std::time::Instant::now(),
        );
        let key = CacheKey::new(&targets, "us-east-1", None, "default", &identity);
        let token = AuthToken {
            token: Secret::new("tok".into()),
            expiration: None,
        };
        let fetched = now - Duration::from_secs(60);
        let entry = Entry::new(&key, &token, fetched + Duration::from_secs(900), fetched);
        match serde_json::from_slice(&entry.encode()) {
            Ok(Value::Object(m)) => m,
            other => panic!("the library's own entry is not a JSON object: {other:?}"),
        }
    })
}

fuzz_target!(|f: Fields| {
    let mut m = base().clone();
    let mut set = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    if let Some(t) = &f.fetched {
        set("fetched", t.render().into());
    }
    if let Some(t) = &f.expiration {
        set("expiration", t.render().into());
    }
    for (k, v) in [
        ("token", &f.token),
        ("service", &f.service),
        ("region", &f.region),
        ("profile", &f.profile),
    ] {
        if let Some(v) = v {
            set(k, v.as_str().into());
        }
    }
    if let Some(e) = &f.endpoint {
        set("endpoint", e.clone().map_or(Value::Null, Value::from));
    }
    if let Some(t) = &f.targets {
        set("targets", t.clone().into());
    }
    check_cache_entry(&serde_json::to_vec(&Value::Object(m)).unwrap());
});
