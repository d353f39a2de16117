//! `pkiCert` reuses the certificate already in its destination while it is still good, as consul-template
//! (and so `bao agent`) does, instead of issuing a new certificate on every start; an expired one is
//! replaced. Both agents are run on each other's files to show they agree.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use sidekey_tests::compat::run_bao_agent_with;
use sidekey_tests::hcl::{template, token_file_auto_auth, vault};
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey};

/// The usual single-file bundle: certificate, key and CA, through `.Data` as the docs write it.
const BUNDLE: &str = "{{ with pkiCert \"pki/issue/app\" \"common_name=reuse.example.test\" \"ttl=TTL\" }}\
{{ .Data.Cert }}{{ .Data.Key }}{{ .Data.CA }}{{ end }}";

/// A config rendering [`BUNDLE`] (with `ttl`) into `destination`.
fn config(
    fx: &Fixture,
    name: &str,
    ttl: &str,
    destination: &Path,
    once: bool,
) -> std::path::PathBuf {
    let token = fx.write_file("pki-token", fx.bao.root_token());
    let mut text = vault(&fx.addr()) + &token_file_auto_auth(&token);
    text.push_str(&template(&BUNDLE.replace("TTL", ttl), destination, &[]));
    if once {
        text.push_str("exit_after_auth = true\n");
    }
    fx.write_file(name, &text)
}

fn sidekey_once(cfg: &Path) {
    let done = Sidekey::new(["run", "--once", "-c"]).args([cfg]).run();
    assert_eq!(done.code(), 0, "sidekey failed:\n{}", done.stderr);
}

fn bao_agent_once(cfg: &Path) {
    let cwd = cfg
        .parent()
        .expect("the config is in the fixture's directory");
    run_bao_agent_with(cfg, cwd, &[], &[]);
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).expect("the bundle was written")
}

#[test]
fn a_still_valid_certificate_in_the_destination_is_reused_like_bao_agent() {
    let fx = Setup::new().pki().start();
    let out = ShmDir::new();
    let dest = out.join("bundle.pem");
    let sk = config(&fx, "sidekey.hcl", "10m", &dest, false);
    let bao = config(&fx, "bao.hcl", "10m", &dest, true);

    sidekey_once(&sk);
    let first = read(&dest);
    assert_eq!(first.matches("-----BEGIN CERTIFICATE-----").count(), 2);
    assert!(first.contains("PRIVATE KEY-----"));

    // Another start keeps the certificate: no new one is issued.
    sidekey_once(&sk);
    assert_eq!(read(&dest), first, "sidekey issued a new certificate");

    // The oracle agrees on sidekey's file, and sidekey on a file bao agent wrote.
    bao_agent_once(&bao);
    assert_eq!(read(&dest), first, "bao agent did not reuse sidekey's file");
    std::fs::remove_file(&dest).unwrap();
    bao_agent_once(&bao);
    let from_bao = read(&dest);
    assert_ne!(
        from_bao, first,
        "without a file, a new certificate is issued"
    );
    sidekey_once(&sk);
    assert_eq!(
        read(&dest),
        from_bao,
        "sidekey did not reuse bao agent's file"
    );
}

#[test]
fn an_expired_certificate_in_the_destination_is_replaced() {
    let fx = Setup::new().pki().start();
    let out = ShmDir::new();
    let dest = out.join("bundle.pem");
    let cfg = config(&fx, "sidekey.hcl", "2s", &dest, false);

    sidekey_once(&cfg);
    let first = read(&dest);
    std::thread::sleep(Duration::from_secs(3));
    sidekey_once(&cfg);
    let second = read(&dest);
    assert_ne!(second, first, "an expired certificate was reused");
    assert_eq!(second.matches("-----BEGIN CERTIFICATE-----").count(), 2);
}
