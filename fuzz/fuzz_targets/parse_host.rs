//! `parse_host` never panics; what it derives is a valid target in a valid region and
//! survives a round trip through a canonical endpoint name; its error is one bounded line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redshift_idc_token::target::{
    ClusterId, Service, Targets, WorkgroupName, is_region, parse_host, printable,
};
use redshift_idc_token_fuzz::{MAX_PRINTABLE, assert_one_line};

fuzz_target!(|s: &str| {
    // is_region is total, and what it accepts fits the documented shape.
    if is_region(s) {
        let b = s.as_bytes();
        assert!((4..=32).contains(&b.len()) && b[0].is_ascii_lowercase());
        assert!(b[b.len() - 1].is_ascii_digit() && s.contains('-'));
    }
    match parse_host(s) {
        Ok(t) => {
            assert!(is_region(&t.region), "region {:?} from {s:?}", t.region);
            let lower = s.to_ascii_lowercase();
            assert!(
                lower.contains(&format!(".{}.", t.region)),
                "region not in {s:?}"
            );
            let names = t.targets.names();
            assert_eq!(names.len(), 1, "{s:?}");
            let name = names[0];
            match &t.targets {
                Targets::Clusters(ids) => {
                    assert_eq!(t.targets.service(), Service::Redshift);
                    assert_eq!(name.parse::<ClusterId>().as_ref(), Ok(&ids[0]));
                }
                Targets::Workgroups(wgs) => {
                    assert_eq!(t.targets.service(), Service::Serverless);
                    assert_eq!(name.parse::<WorkgroupName>().as_ref(), Ok(&wgs[0]));
                }
            }
            // The canonical endpoint (and its JDBC URL) for what was derived gives it back.
            let svc = t.targets.service().name();
            for suffix in [".amazonaws.com", ".amazonaws.com.cn"] {
                let host = format!("{name}.id0.{}.{svc}{suffix}", t.region);
                assert_eq!(parse_host(&host).as_ref(), Ok(&t), "{host}");
                let url = format!("jdbc:redshift://{host}:5439/dev");
                assert_eq!(parse_host(&url).as_ref(), Ok(&t), "{url}");
            }
        }
        Err(e) => {
            assert_eq!(e.host, printable(s));
            assert!(e.host.len() <= MAX_PRINTABLE);
            let msg = e.to_string();
            assert_one_line("host error", &msg);
            assert!(
                msg.len() <= MAX_PRINTABLE + 400,
                "unbounded message ({} bytes)",
                msg.len()
            );
        }
    }
});
