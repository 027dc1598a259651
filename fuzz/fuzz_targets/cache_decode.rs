//! `cache::decode` on raw bytes (seeded with entries the real binary wrote): total, and an
//! entry it accepts round-trips and survives the cache-hit path (see `check_cache_entry`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| redshift_idc_token_fuzz::check_cache_entry(data));
