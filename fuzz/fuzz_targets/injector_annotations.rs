//! A pod's annotations, one `key=value` per line (a key without `/` gets the `vault.hashicorp.com/`
//! prefix; `\n` in a value is written `\\n`), read as the injector reads them.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut annotations = BTreeMap::new();
    for line in text.lines() {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        let key = if key.contains('/') {
            key.to_string()
        } else {
            format!("vault.hashicorp.com/{key}")
        };
        annotations.insert(key, value.replace("\\n", "\n"));
    }
    sidekey_injector::fuzzing::annotations(&annotations);
});
