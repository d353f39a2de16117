//! A template's text: lexed, parsed and rendered over fixed secret data, with a fixed function set.
//!
//! Templates come from the operator: a template that loops for ever or builds a gigabyte string is the
//! author's to fix (Go's `text/template` runs it the same way), not a finding. So the functions that
//! make large output or slow work on purpose (key generation, bcrypt, scrypt, `repeat`, `indent`,
//! `until`...) and the one that uses the network (`getHostByName`) are refused, and inputs that could
//! nest loops deeply (many `range`s, or `range` with self-invoking templates) are skipped. Everything
//! else is fair: parse and render must answer every input with output or an error.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// Refused functions: slow or large on purpose, random, or networked; under both their names (sprig's
/// are also served with a `sprig_` prefix).
const DENIED: &[&str] = &[
    "getHostByName",
    "sprig_getHostByName",
    "bcrypt",
    "sprig_bcrypt",
    "htpasswd",
    "sprig_htpasswd",
    "derivePassword",
    "sprig_derivePassword",
    "genPrivateKey",
    "sprig_genPrivateKey",
    "buildCustomCert",
    "sprig_buildCustomCert",
    "genCA",
    "sprig_genCA",
    "genCAWithKey",
    "sprig_genCAWithKey",
    "genSelfSignedCert",
    "sprig_genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "sprig_genSelfSignedCertWithKey",
    "genSignedCert",
    "sprig_genSignedCert",
    "genSignedCertWithKey",
    "sprig_genSignedCertWithKey",
    "randBytes",
    "sprig_randBytes",
    "randAlphaNum",
    "sprig_randAlphaNum",
    "randAlpha",
    "sprig_randAlpha",
    "randNumeric",
    "sprig_randNumeric",
    "randAscii",
    "sprig_randAscii",
    "repeat",
    "sprig_repeat",
    "indent",
    "sprig_indent",
    "nindent",
    "sprig_nindent",
    "until",
    "sprig_until",
    "untilStep",
    "sprig_untilStep",
    "seq",
    "sprig_seq",
];

/// Longest input looked at (smoke.sh passes the same as `-max_len`).
const MAX_LEN: usize = 4096;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_LEN {
        return;
    }
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let ranges = source.matches("range").count();
    let calls = source.matches("emplate").count();
    let defines = source.contains("define") || source.contains("block");
    if ranges > 4 || calls > 2 || (defines && ranges > 0) {
        return;
    }
    sidekey::fuzzing::template(source, DENIED, (data.len() % 3) as u8);
});
