//! What aws-config would resolve, worked out offline from one reading of the shared files and
//! the environment: the profile's keys (`profile`), the files themselves (`shared_config`),
//! the SDK settings aws-config would reject or ignore (`sdk_settings`), and the inputs of the
//! credential chain that decide who a run is (`chain`).

pub mod chain;
pub mod profile;
pub mod sdk_settings;
pub mod shared_config;
