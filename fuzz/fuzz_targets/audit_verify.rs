//! An audit file's lines through `audit verify` and `audit report`.
//!
//! Arbitrary lines almost never carry a correct hash, so the verifier would stop at the hash check. When
//! the first byte is odd, each line that has the shape of an event line gets its hash recomputed
//! first (what a writer holding the key could do), so the chain, sequence and report logic behind the
//! check is fuzzed too.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// What precedes the hash at the end of an event line (`…,"hash":"<hex>"}`).
const HASH_KEY: &str = ",\"hash\":\"";

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if mode & 1 == 0 {
        sidekey::fuzzing::audit_verify(text);
        return;
    }
    let mut resealed = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        match line
            .strip_suffix("\"}")
            .and_then(|b| b.rfind(HASH_KEY).map(|at| &b[..at]))
        {
            Some(head) => {
                let hash = sidekey::fuzzing::audit_hash(&format!("{head}}}"));
                resealed.push_str(&format!("{head}{HASH_KEY}{hash}\"}}"));
            }
            None => resealed.push_str(line),
        }
        resealed.push('\n');
    }
    sidekey::fuzzing::audit_verify(&resealed);
});
