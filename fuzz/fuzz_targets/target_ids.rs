//! `ClusterId::from_str` and `WorkgroupName::from_str` accept exactly the service's rules,
//! normalise as documented, and reject with a one-line, bounded message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redshift_idc_token::target::{ClusterId, WorkgroupName, printable};
use redshift_idc_token_fuzz::{MAX_PRINTABLE, assert_one_line};

/// The cluster-id rule, written independently of `src/target.rs`.
fn is_valid_cluster_id(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1] != b'-'
        && !b.windows(2).any(|w| w == b"--")
}

fn is_valid_workgroup(s: &str) -> bool {
    (3..=64).contains(&s.len())
        && s.bytes()
            .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

fuzz_target!(|s: &str| {
    match s.parse::<ClusterId>() {
        Ok(id) => {
            assert!(is_valid_cluster_id(s), "accepted invalid cluster id {s:?}");
            let v = id.as_str();
            assert_eq!(v, s.to_ascii_lowercase());
            assert!(
                v.bytes()
                    .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-'))
            );
            assert!(v.as_bytes()[0].is_ascii_lowercase());
            assert_eq!(id.to_string(), v);
            assert_eq!(v.parse::<ClusterId>().as_ref(), Ok(&id), "not idempotent");
        }
        Err(e) => {
            assert!(
                !is_valid_cluster_id(s),
                "rejected valid cluster id {s:?}: {e}"
            );
            assert_eq!(e.kind, "cluster id");
            assert_eq!(e.value, printable(s));
            let msg = e.to_string();
            assert_one_line("cluster id error", &msg);
            assert!(
                msg.len() <= MAX_PRINTABLE + 200,
                "unbounded message ({} bytes)",
                msg.len()
            );
        }
    }
    match s.parse::<WorkgroupName>() {
        Ok(wg) => {
            assert!(is_valid_workgroup(s), "accepted invalid workgroup {s:?}");
            assert_eq!(wg.as_str(), s);
            assert_eq!(wg.to_string(), s);
            assert_eq!(s.parse::<WorkgroupName>().as_ref(), Ok(&wg));
        }
        Err(e) => {
            assert!(
                !is_valid_workgroup(s),
                "rejected valid workgroup {s:?}: {e}"
            );
            assert_eq!(e.kind, "workgroup name");
            let msg = e.to_string();
            assert_one_line("workgroup error", &msg);
            assert!(
                msg.len() <= MAX_PRINTABLE + 200,
                "unbounded message ({} bytes)",
                msg.len()
            );
        }
    }
});
