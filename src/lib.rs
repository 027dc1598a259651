//! redshift-idc-token: fetch an IAM Identity Center auth token for Amazon Redshift and print
//! it for database drivers.
//!
//! The binary is a thin `main` around [`app::main`]; the modules are public so that the
//! integration tests and fuzz targets can reach the parsers and the cache codec.

// The floors, from the top: each module uses only those below it (docs/architecture.md).
pub mod access_token;
pub mod app;
pub mod aws;
pub mod base64url;
pub mod cache;
pub mod children;
pub mod cli;
pub mod commands;
pub mod env;
pub mod error;
pub mod jwt_claims;
pub mod logging;
pub mod output;
pub mod secret_store;
pub mod serve;
pub mod settings;
pub mod signin;
pub mod small_file;
pub mod target;
pub mod token;
