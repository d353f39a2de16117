//! A backend response: the first byte picks the HTTP status, the rest is the body, read as a secret, a
//! login, a wrapped response and a mount.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// Statuses a server (or something in front of it) answers with.
const STATUSES: [u16; 10] = [200, 204, 400, 403, 404, 412, 429, 500, 502, 503];

fuzz_target!(|data: &[u8]| {
    let Some((first, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(*first) % STATUSES.len()];
    sidekey::fuzzing::backend_response(status, body);
});
