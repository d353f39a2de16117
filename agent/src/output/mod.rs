//! output (to be written).
