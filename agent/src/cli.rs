//! The command line (DESIGN §3).

/// Run the command line; returns the process exit code.
pub fn main() -> i32 {
    0
}
