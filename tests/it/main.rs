//! The integration tests: one binary (one link of the AWS SDK), one module per area.
//! Every test runs the real executable as a subprocess against the local AWS stand-in.

#[path = "../support/aws_standin.rs"]
#[allow(dead_code)]
mod aws_standin;
#[path = "../support/idc_selftest.rs"]
mod idc_selftest;
#[path = "../support/idc_standin.rs"]
#[allow(dead_code)]
mod idc_standin;
#[path = "../support/standin_selftest.rs"]
mod standin_selftest;

mod access_token;
mod bad_config;
mod cache;
#[allow(dead_code)]
mod common;
mod doctor;
mod exec;
mod faults;
mod fuzz_corpus;
mod housekeeping;
mod identity;
mod identity_signin;
mod keyring;
mod messages;
mod plugin_config;
mod release;
mod resolve;
mod secrets;
mod signin;
mod signin_cli;
mod signin_limits;
mod time_limit;
mod token_cmd;
mod torture;
