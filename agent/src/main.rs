//! The `sidekey` binary: parses the command line and hands over to [`sidekey::cli`].

fn main() {
    std::process::exit(sidekey::cli::main());
}
