//! The executable: everything happens in `app::main`, which returns the exit status.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(redshift_idc_token::app::main())
}
