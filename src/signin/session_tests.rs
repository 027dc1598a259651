//! The cached session's tests: its codec, key checks, renewal spacing and failure records (`session.rs`).

use super::*;

const NOW: Duration = Duration::from_secs(1_795_927_411);

#[test]
fn round_trip_freshness_and_no_secret_in_debug() {
    let now = SystemTime::UNIX_EPOCH + NOW;
    let s = test_session("ann", now, 3600);
    let back = decode(&s.encode(), Some(&s.meta), now).unwrap();
    assert_eq!(back, s);
    assert!(s.is_fresh(now + Duration::from_secs(3299)));
    assert!(!s.is_fresh(now + Duration::from_secs(3300)));
    assert!(s.is_valid(now + Duration::from_secs(3500)));
    let debug = format!("{s:?}");
    assert!(!debug.contains("SENTINEL"), "{debug}");
    let mut other = s.meta.clone();
    other.role_arn.push('2');
    assert_eq!(decode(&s.encode(), Some(&other), now), Err(Miss::OtherKey));
    let text = String::from_utf8(s.encode().to_vec()).unwrap();
    let foreign = text.replace(&format!("\"schema\":{SCHEMA}"), "\"schema\":7");
    assert_eq!(
        decode(foreign.as_bytes(), None, now),
        Err(Miss::ForeignSchema(7))
    );
    let bare = format!("{{\"schema\":{SCHEMA}}}");
    assert_eq!(decode(bare.as_bytes(), None, now), Err(Miss::Corrupt));
    let early = now - Duration::from_secs(3600);
    assert_eq!(decode(&s.encode(), None, early), Err(Miss::FutureDated));
}

#[test]
fn a_refresh_token_in_the_keyring_is_a_reference_in_the_entry() {
    let now = SystemTime::UNIX_EPOCH + NOW;
    let mut s = test_session("ann", now, 3600);
    let id = SecretId::of("signin", "0123abcd", "refresh_token").unwrap();
    s.refresh_token = Some(Kept::Keyring(id));
    let text = String::from_utf8(s.encode().to_vec()).unwrap();
    assert!(text.contains(r#""refresh_token":null"#), "{text}");
    assert!(
        text.contains(r#""refresh_token_ref":"keyring:signin/0123abcd/refresh_token""#),
        "{text}"
    );
    assert_eq!(decode(text.as_bytes(), Some(&s.meta), now).unwrap(), s);
    // A reference this version does not know is no refresh token: sign in again.
    let other = text.replace("keyring:signin", "vault:signin");
    let back = decode(other.as_bytes(), Some(&s.meta), now).unwrap();
    assert_eq!(back.refresh_token, None);
    // Inline, the entry is as before the keyring: no reference field at all.
    let inline = String::from_utf8(test_session("ann", now, 60).encode().to_vec()).unwrap();
    assert!(!inline.contains("refresh_token_ref"), "{inline}");
}

#[test]
fn the_store_name_is_made_from_the_schema() {
    assert_eq!(STORE, format!("signin-v{SCHEMA}"));
}

#[test]
fn an_entry_under_another_identitys_key_is_refused() {
    let now = SystemTime::UNIX_EPOCH + NOW;
    let s = test_session("ann", now, 3600);
    // Everything the same but the rest of the key (bootstrap, fingerprint, person).
    let mut other = s.meta.clone();
    other.identity = "1".repeat(32);
    assert_eq!(decode(&s.encode(), Some(&other), now), Err(Miss::OtherKey));
}

#[test]
fn renewal_waits_the_minimum_interval_after_a_failure() {
    let now = SystemTime::UNIX_EPOCH + NOW;
    let mut s = test_session("ann", now, 3600);
    let window = now + Duration::from_secs(3400);
    assert!(s.renewal_due(window) && !s.servable(window));
    s.renewal_failed = Some(window);
    let back = decode(&s.encode(), None, window).unwrap();
    assert_eq!(back.renewal_failed, Some(window), "kept to the millisecond");
    let soon = window + MIN_TIME_BETWEEN_RENEWALS - Duration::from_millis(1);
    assert!(!s.renewal_due(soon) && s.servable(soon));
    let then = window + MIN_TIME_BETWEEN_RENEWALS;
    assert!(s.renewal_due(then) && !s.servable(then));
    // Never past validity, and a clock that went back makes it due.
    assert!(!s.servable(now + Duration::from_secs(3550)));
    assert!(s.renewal_due(window - Duration::from_secs(1)));
}

#[test]
fn a_failure_is_read_back_for_its_key_and_lifetime_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), STORE).unwrap();
    let now = SystemTime::UNIX_EPOCH + NOW;
    let key = SessionKey {
        id: "k".into(),
        meta: test_session("ann", now, 3600).meta,
        names_person: true,
    };
    let far = std::time::Instant::now() + Duration::from_secs(5);
    let guard = store
        .lock(&key.id, crate::cache::Mode::Exclusive, far)
        .unwrap()
        .unwrap();
    let f = Failure {
        at: now + Duration::from_millis(250),
        line: "the sign-in was refused".into(),
        status: ExitCode::SignIn,
    };
    record_failure(&store, &guard, &key, &f);
    assert_eq!(failure(&store, &key, now), Some(f.clone()));
    assert_eq!(failure(&store, &key, f.at + FAILURE_LIFETIME), None);
    let mut other = key.clone();
    other.meta.identity = "1".repeat(32);
    assert_eq!(failure(&store, &other, now), None);
    remove_failure(&failures(&store).unwrap(), &key.id);
    assert_eq!(failure(&store, &key, now), None);
}

proptest::proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let _ = decode(&bytes, None, SystemTime::UNIX_EPOCH + NOW);
    }
}
