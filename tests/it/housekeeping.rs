//! Issue 8, class 5: parsing and housekeeping.
//!
//! `--host` refuses ports and labels the drivers would refuse and understands the drivers'
//! IAM URL form; `cache clear` filters the way targets compare; pruning is bounded and
//! periodic, and `cache clear` leaves no lock files behind.

use std::fs;
use std::time::{Duration, SystemTime};

use crate::common::*;

#[test]
fn host_ports_and_labels_are_checked() {
    let (standin, sb) = standin_issuing(None);
    for (host, rule) in [
        ("c1.abc.us-east-1.redshift.amazonaws.com:0", "port"),
        ("c1.abc.us-east-1.redshift.amazonaws.com:65536", "port"),
        ("c1.abc.us-east-1.redshift.amazonaws.com:", "port"),
        ("c1..abc.us-east-1.redshift.amazonaws.com", "empty label"),
        (
            "jdbc:redshift://c1.abc.us-east-1.redshift.amazonaws.com:99999/dev",
            "port",
        ),
    ] {
        assert_failure(
            &sb.run(&["--host", host]),
            2,
            &[rule, "1-65535"][..if rule == "port" { 2 } else { 1 }],
        );
    }
    assert_eq!(standin.request_count(), 0);
    let doc = sb.json(&["--host", "c1.abc.us-east-1.redshift.amazonaws.com:65535"]);
    assert_eq!(doc["targets"], serde_json::json!(["c1"]));
}

#[test]
fn the_drivers_iam_url_form_names_cluster_and_region() {
    let (standin, mut sb) = standin_issuing(None);
    sb.unset("AWS_REGION");
    let doc = sb.json(&[
        "--host",
        "jdbc:redshift:iam://MyCluster:eu-west-1/dev?ssl=true",
    ]);
    assert_eq!(doc["targets"], serde_json::json!(["mycluster"]));
    let issued = parse_issued(doc["token"].as_str().unwrap()).unwrap();
    assert_eq!(
        (issued.region.as_str(), issued.service.as_str()),
        ("eu-west-1", "rs")
    );
    assert_eq!(standin.request_count(), 1);
    // A region part that is not a region is refused with the form spelt out.
    assert_failure(
        &sb.run(&["--host", "jdbc:redshift:iam://c1:nowhere/dev"]),
        2,
        &["jdbc:redshift:iam://CLUSTER:REGION/DB"],
    );
}

#[test]
fn cache_clear_matches_targets_the_way_targets_compare() {
    let (_standin, sb) = standin_issuing(None);
    sb.json(&["--cluster-id", "MyCluster"]);
    sb.json(&["--cluster-id", "other"]);
    let out = sb.run(&["cache", "clear", "--target", "MYCLUSTER"]);
    assert_success(&out);
    assert_eq!(stdout(&out), "removed 1 cache entry\n");
    assert_eq!(sb.entries().len(), 1);
}

#[test]
fn cache_clear_removes_the_lock_files_it_leaves() {
    let (_standin, sb) = standin_issuing(None);
    sb.json(&["--cluster-id", "c1"]);
    sb.json(&["--cluster-id", "c2"]);
    let out = sb.run(&["cache", "clear"]);
    assert_success(&out);
    let left: Vec<String> = fs::read_dir(sb.entry_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Fills the entry directory with `n` long-expired entries: copies of a real one under other
/// names, fetched three days ago.
fn fill_with_old_entries(sb: &Sandbox, n: usize) {
    let entry = sb.entries().pop().unwrap();
    let mut doc: serde_json::Value = serde_json::from_slice(&fs::read(&entry).unwrap()).unwrap();
    let day = 86_400;
    let t = |ago: u64| {
        let out = std::process::Command::new("date")
            .args([
                "-u",
                "-d",
                &format!("@{}", unix_now() - ago),
                "+%Y-%m-%dT%H:%M:%SZ",
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    doc["fetched"] = t(3 * day).into();
    doc["expiration"] = t(3 * day - 900).into();
    for i in 0..n {
        fs::write(
            sb.entry_dir().join(format!("{i:032x}.json")),
            doc.to_string(),
        )
        .unwrap();
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn pruning_runs_at_most_once_per_interval_and_boundedly() {
    let (_standin, sb) = standin_issuing(None);
    sb.json(&["--cluster-id", "c1"]);
    fill_with_old_entries(&sb, 300);
    // The first miss pruned (an empty cache) and left its stamp; an hour and more later...
    let stamp = sb.entry_dir().join("prune.stamp");
    fs::File::options()
        .write(true)
        .open(&stamp)
        .expect("the first miss left a prune stamp")
        .set_modified(SystemTime::now() - Duration::from_secs(2 * 3600))
        .unwrap();
    // ...a miss prunes, but only a bounded number of entries at a time.
    sb.json(&["--cluster-id", "c2"]);
    let after_first = sb.entries().len();
    assert!(
        after_first < 302,
        "a miss prunes: {after_first} entries left"
    );
    assert!(
        after_first > 2,
        "boundedly: one miss removed all {after_first}"
    );
    // Within the interval no miss prunes again.
    sb.json(&["--cluster-id", "c3"]);
    assert_eq!(sb.entries().len(), after_first + 1);
}
