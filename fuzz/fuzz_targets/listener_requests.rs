//! Untrusted local input to the listeners: the abstract socket name a credentials caller connects
//! from, and a request to the API proxy with the backend's answer.
//!
//! Input: NUL-separated fields `name`, `method`, `path[?query]`, `headers` (`Name: value` lines), `body`,
//! `answer`; missing fields are empty.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|b| *b == 0);
    let mut next = || fields.next().unwrap_or_default();
    let (name, method, target, headers, body, answer) =
        (next(), next(), next(), next(), next(), next());
    sidekey::fuzzing::credentials_address(name);
    let Ok(target) = std::str::from_utf8(target) else {
        return;
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let headers: Vec<(&[u8], &[u8])> = headers
        .split(|b| *b == b'\n')
        .filter_map(|line| {
            let at = line.iter().position(|b| *b == b':')?;
            let value = &line[at + 1..];
            Some((&line[..at], value.strip_prefix(b" ").unwrap_or(value)))
        })
        .collect();
    sidekey::fuzzing::listener_request(method, path, query, &headers, body, answer);
});
