//! A config file's text through sidekey's full load and validation (`config_hcl1`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // sidekey reads config files as UTF-8 text; anything else is refused before a reader sees it.
    if let Ok(text) = std::str::from_utf8(data) {
        sidekey::fuzzing::config_hcl1(text);
    }
});
