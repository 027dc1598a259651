//! Link the executable as non-PIE on Linux: a position-independent executable of this size
//! carries ~35,000 relative relocations that the loader applies at every start, dirtying
//! ~70 pages. Drivers start this program once per connection, and a cache hit is otherwise
//! about 1 ms of work, so start-up is the cost that matters (see README "Performance").
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
