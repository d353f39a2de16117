//! Test harness for sidekey's end-to-end tests (to be filled in).
