//! Unit tests: annotation parsing, defaults, errors, and golden patches for the docs examples.
