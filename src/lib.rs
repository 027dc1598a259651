//! redshift-idc-token: fetch an IAM Identity Center auth token for Amazon Redshift and print
//! it for database drivers.
//!
//! The binary is a thin `main` around [`app::main`]; the modules are public so that the
//! integration tests and fuzz targets can reach the parsers and the cache codec.

pub mod app;
pub mod cache;
pub mod children;
pub mod cli;
pub mod doctor;
pub mod env;
pub mod error;
pub mod exec;
pub mod fastpath;
pub mod fetch;
pub mod logging;
pub mod obtain;
pub mod output;
pub mod profile;
pub mod sdk_settings;
pub mod settings;
pub mod shared_config;
pub mod signin;
pub mod small_file;
pub mod target;
pub mod token;
