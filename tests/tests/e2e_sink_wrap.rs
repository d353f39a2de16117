//! Response-wrapped and encrypted token sinks, and `auto_auth { method { wrap_ttl } }`, as Vault Agent
//! writes them: against the real dev server (what a sink holds unwraps, with `sys/wrapping/unwrap`, to a
//! token that works) and the real `bao agent` (the same sink config gives a file of the same structure,
//! which the same consumer decrypts). The consumer below knows only the documented format: a public key
//! file `{"curve25519_public_key": "<base64>"}`, and an envelope with the agent's public key, a nonce and
//! the AES-256-GCM ciphertext, keyed by the X25519 shared secret or, with `derive_key`, by HKDF-SHA256 of
//! it (salt: the lower public key, info: the higher).

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hkdf::Hkdf;
use serde_json::Value;
use sha2::Sha256;
use sidekey_tests::compat::{bao_agent, run_bao_agent, sidekey_once};
use sidekey_tests::hcl::{AutoAuth, template, vault};
use sidekey_tests::setup::str_at;
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey};
use x25519_dalek::{PublicKey, StaticSecret};

/// The keys of Vault Agent's wrap info JSON, in the order it writes them.
const WRAP_KEYS: [&str; 6] = [
    "token",
    "accessor",
    "ttl",
    "creation_time",
    "creation_path",
    "wrapped_accessor",
];
/// The keys of the encrypted envelope, in the order Vault Agent writes them.
const ENVELOPE_KEYS: [&str; 3] = ["curve25519_public_key", "nonce", "encrypted_payload"];

/// A program that reads an encrypted sink, knowing only the documented format.
struct Consumer {
    secret: StaticSecret,
    public: [u8; 32],
}

impl Consumer {
    fn new() -> Consumer {
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .unwrap();
        let secret = StaticSecret::from(bytes);
        let public = PublicKey::from(&secret).to_bytes();
        Consumer { secret, public }
    }

    /// Write the public key file the agent reads (`dh_path`).
    fn write_public_key(&self, path: &Path) {
        let json = serde_json::json!({ "curve25519_public_key": STANDARD.encode(self.public) });
        std::fs::write(path, json.to_string()).unwrap();
    }

    /// Decrypt the sink file's envelope.
    fn open(&self, file: &[u8], derive_key: bool, aad: &[u8]) -> Vec<u8> {
        let env: Value = serde_json::from_slice(file).unwrap_or_else(|e| {
            panic!(
                "envelope is not JSON ({e}): {}",
                String::from_utf8_lossy(file)
            )
        });
        let bytes = |k: &str| {
            STANDARD
                .decode(env[k].as_str().unwrap_or_else(|| panic!("no {k} in {env}")))
                .unwrap()
        };
        let agent: [u8; 32] = bytes("curve25519_public_key").try_into().unwrap();
        let shared = self
            .secret
            .diffie_hellman(&PublicKey::from(agent))
            .to_bytes();
        let mut key = shared;
        if derive_key {
            let (salt, info) = if self.public < agent {
                (self.public, agent)
            } else {
                (agent, self.public)
            };
            Hkdf::<Sha256>::new(Some(&salt[..]), &shared)
                .expand(&info, &mut key)
                .unwrap();
        }
        let nonce: [u8; 12] = bytes("nonce").try_into().unwrap();
        Aes256Gcm::new_from_slice(&key)
            .unwrap()
            .decrypt(
                &Nonce::<Aes256Gcm>::from(nonce),
                Payload {
                    msg: &bytes("encrypted_payload"),
                    aad,
                },
            )
            .unwrap_or_else(|_| panic!("the consumer cannot decrypt {env}"))
    }
}

/// The top-level keys of a JSON object, in file order.
fn keys(json: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(json)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(json)));
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// Unwrap `wrapping_token` on the server; the unwrapped response.
fn unwrap(fx: &Fixture, wrapping_token: &str) -> Value {
    let reply = fx
        .bao
        .request("PUT", "sys/wrapping/unwrap", Some(wrapping_token), None);
    assert!(
        reply.is_success(),
        "unwrap: {} {}",
        reply.status,
        reply.body
    );
    reply.body
}

/// `token` works: lookup-self succeeds and it reads the secret the `app` policy allows.
fn assert_works(fx: &Fixture, token: &str) {
    let me = fx
        .bao
        .request("GET", "auth/token/lookup-self", Some(token), None);
    assert!(me.is_success(), "lookup-self: {} {}", me.status, me.body);
    let secret = fx
        .bao
        .request("GET", "secret/data/app/config", Some(token), None);
    assert!(
        secret.is_success(),
        "read: {} {}",
        secret.status,
        secret.body
    );
    assert_eq!(str_at(&secret.body, "/data/data/password"), fx.sentinel);
}

/// The sink file's wrap info JSON: Vault Agent's keys in its order, a newline after it; the wrapping
/// token in it.
fn wrap_info(file: &[u8], creation_path: &str) -> String {
    assert!(file.ends_with(b"}\n"), "{}", String::from_utf8_lossy(file));
    assert_eq!(keys(file), WRAP_KEYS);
    let v: Value = serde_json::from_slice(file).unwrap();
    assert_eq!(v["creation_path"], creation_path, "{v}");
    assert_eq!(v["ttl"], 300, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `vault` + a jwt `auto_auth` (a fresh JWT: `bao agent` removes it after reading) whose one sink at
/// `sink` has `options`; `method_options` go into the method block.
fn config(fx: &Fixture, sink: &Path, method_options: &[&str], options: &[&str]) -> PathBuf {
    let jwt = fx.app_jwt();
    let mut auth = AutoAuth::jwt(&jwt.path, "app");
    for o in method_options {
        auth = auth.option(o);
    }
    let text = vault(&fx.addr()) + &auth.sink_with(sink, &[], options).to_string();
    fx.write_config(&text)
}

fn sidekey_ok(config: &Path, cwd: &Path, env: &[(&str, &str)]) -> String {
    let done = sidekey_once(config, cwd, env);
    assert_eq!(done.code(), 0, "sidekey failed:\n{}", done.stderr);
    done.stderr
}

#[test]
fn a_wrapped_sink_unwraps_to_a_working_token() {
    let fx = Setup::new().jwt().start();
    let out = ShmDir::new();
    let sink = out.join("token");
    let log = sidekey_ok(
        &config(&fx, &sink, &[], &["wrap_ttl = \"5m\""]),
        fx.dir.path(),
        &[],
    );
    let file = read(&sink);
    assert_eq!(
        std::fs::metadata(&sink).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let wrapping = wrap_info(&file, "sys/wrapping/wrap");
    assert!(!log.contains(&wrapping), "the wrapping token is in the log");
    let unwrapped = unwrap(&fx, &wrapping);
    let token = str_at(&unwrapped, "/data/token");
    assert!(!log.contains(&token), "the token is in the log");
    assert_works(&fx, &token);
    // Single use, as any wrapping token.
    let again = fx
        .bao
        .request("PUT", "sys/wrapping/unwrap", Some(&wrapping), None);
    assert!(!again.is_success(), "{}", again.body);
}

#[test]
fn an_encrypted_sink_decrypts_with_a_consumer_that_knows_only_the_format() {
    let fx = Setup::new().jwt().start();
    let consumer = Consumer::new();
    let dh_path = fx.dir.path().join("dh.json");
    consumer.write_public_key(&dh_path);
    let dh = format!("dh_path = {:?}", dh_path.display().to_string());
    for (derive, aad, wrap) in [
        (false, "", false),
        (true, "", false),
        (false, "some aad", false),
        (true, "fresh-aad-42", true),
    ] {
        let out = ShmDir::new();
        let sink = out.join("token");
        let mut options = vec![
            "dh_type = \"curve25519\"".to_owned(),
            dh.clone(),
            format!("derive_key = {derive}"),
        ];
        if !aad.is_empty() {
            options.push(format!("aad = {aad:?}"));
        }
        if wrap {
            options.push("wrap_ttl = \"5m\"".to_owned());
        }
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        let log = sidekey_ok(&config(&fx, &sink, &[], &options), fx.dir.path(), &[]);
        let file = read(&sink);
        assert!(file.ends_with(b"}\n"));
        assert_eq!(keys(&file), ENVELOPE_KEYS, "derive {derive}, aad {aad:?}");
        let plain = consumer.open(&file, derive, aad.as_bytes());
        let token = if wrap {
            let wrapping = wrap_info(&plain, "sys/wrapping/wrap");
            str_at(&unwrap(&fx, &wrapping), "/data/token")
        } else {
            String::from_utf8(plain).unwrap()
        };
        assert!(!log.contains(&token), "the token is in the log");
        assert_works(&fx, &token);
    }
}

#[test]
fn aad_env_var_is_read_from_the_environment() {
    let fx = Setup::new().jwt().start();
    let consumer = Consumer::new();
    let dh_path = fx.dir.path().join("dh.json");
    consumer.write_public_key(&dh_path);
    let out = ShmDir::new();
    let sink = out.join("token");
    let dh = format!("dh_path = {:?}", dh_path.display().to_string());
    let cfg = config(
        &fx,
        &sink,
        &[],
        &[
            "dh_type = \"curve25519\"",
            &dh,
            "aad = \"ignored\"",
            "aad_env_var = \"SINK_AAD\"",
        ],
    );
    sidekey_ok(&cfg, fx.dir.path(), &[("SINK_AAD", "from-the-env")]);
    let token = consumer.open(&read(&sink), false, b"from-the-env");
    assert_works(&fx, &String::from_utf8(token).unwrap());
}

#[test]
fn a_missing_public_key_file_fails_the_sink_naming_dh_path() {
    let fx = Setup::new().jwt().start();
    let out = ShmDir::new();
    let sink = out.join("token");
    let dh_path = fx.dir.path().join("not-yet.json");
    let dh = format!("dh_path = {:?}", dh_path.display().to_string());
    let cfg = config(&fx, &sink, &[], &["dh_type = \"curve25519\"", &dh]);
    let done = sidekey_once(&cfg, fx.dir.path(), &[]);
    assert_eq!(done.code(), 1, "{}", done.stderr);
    assert!(
        done.stderr.contains("no public key file yet"),
        "{}",
        done.stderr
    );
    assert!(!sink.exists(), "an unencrypted token was written");
}

#[test]
fn bao_agent_writes_the_same_structures_and_the_same_consumer_reads_both() {
    let fx = Setup::new().jwt().start();
    let consumer = Consumer::new();
    let dh_path = fx.dir.path().join("dh.json");
    consumer.write_public_key(&dh_path);
    let dh = format!("dh_path = {:?}", dh_path.display().to_string());
    let encrypted = [
        "wrap_ttl = \"5m\"",
        "dh_type = \"curve25519\"",
        &dh,
        "derive_key = true",
        "aad = \"shared-aad\"",
    ];
    let cases: [(&str, &[&str], &[&str]); 4] = [
        ("wrapped", &[], &["wrap_ttl = \"5m\""]),
        ("encrypted", &[], &["dh_type = \"curve25519\"", &dh]),
        ("wrapped+encrypted", &[], &encrypted),
        ("method wrap_ttl", &["wrap_ttl = \"5m\""], &[]),
    ];
    for (name, method, options) in cases {
        let (bao_out, sk_out) = (ShmDir::new(), ShmDir::new());
        let (bao_sink, sk_sink) = (bao_out.join("token"), sk_out.join("token"));
        run_bao_agent(&config(&fx, &bao_sink, method, options), fx.dir.path(), &[]);
        sidekey_ok(&config(&fx, &sk_sink, method, options), fx.dir.path(), &[]);
        let (bao, sk) = (read(&bao_sink), read(&sk_sink));
        let encrypted = options.iter().any(|o| o.starts_with("dh_type"));
        let (derive, aad) = if options.contains(&"derive_key = true") {
            (true, b"shared-aad".as_slice())
        } else {
            (false, b"".as_slice())
        };
        let (bao, sk) = if encrypted {
            assert_eq!(keys(&sk), keys(&bao), "{name}: envelope keys");
            assert_eq!(keys(&sk), ENVELOPE_KEYS, "{name}");
            assert_eq!(bao.last(), sk.last(), "{name}: trailing newline");
            (
                consumer.open(&bao, derive, aad),
                consumer.open(&sk, derive, aad),
            )
        } else {
            (bao, sk)
        };
        if options.iter().any(|o| o.starts_with("wrap_ttl")) || !method.is_empty() {
            let path = if method.is_empty() {
                "sys/wrapping/wrap"
            } else {
                "auth/jwt/login"
            };
            for (who, file) in [("bao agent", &bao), ("sidekey", &sk)] {
                let wrapping = wrap_info(file, path);
                let unwrapped = unwrap(&fx, &wrapping);
                let token = if method.is_empty() {
                    str_at(&unwrapped, "/data/token")
                } else {
                    str_at(&unwrapped, "/auth/client_token")
                };
                assert_works(&fx, &token);
                let info: Value = serde_json::from_slice(file).unwrap();
                assert_eq!(
                    info["wrapped_accessor"]
                        .as_str()
                        .is_some_and(|a| !a.is_empty()),
                    !method.is_empty(),
                    "{name}, {who}: wrapped_accessor in {info}"
                );
            }
        } else {
            for file in [&bao, &sk] {
                assert_works(&fx, std::str::from_utf8(file).unwrap());
            }
        }
    }
}

#[test]
fn method_wrap_ttl_writes_a_wrapped_login_that_unwraps_to_a_working_token() {
    let fx = Setup::new().jwt().start();
    let out = ShmDir::new();
    let sink = out.join("token");
    let log = sidekey_ok(
        &config(&fx, &sink, &["wrap_ttl = \"5m\""], &[]),
        fx.dir.path(),
        &[],
    );
    let wrapping = wrap_info(&read(&sink), "auth/jwt/login");
    let unwrapped = unwrap(&fx, &wrapping);
    let token = str_at(&unwrapped, "/auth/client_token");
    assert!(!log.contains(&token) && !log.contains(&wrapping), "{log}");
    assert_works(&fx, &token);
}

#[test]
fn method_wrap_ttl_with_a_long_running_agent_writes_the_sink_once_and_renews_nothing() {
    let fx = Setup::new().jwt().start();
    let out = ShmDir::new();
    let sink = out.join("token");
    let cfg = config(&fx, &sink, &["wrap_ttl = \"5m\""], &[]);
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    assert!(
        sidekey_tests::background::wait_until(std::time::Duration::from_secs(10), || sink.exists()),
        "no sink: {}",
        agent.stderr()
    );
    let first = read(&sink);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(agent.running(), "{}", agent.stderr());
    assert_eq!(read(&sink), first, "the sink was written again");
    let token = str_at(
        &unwrap(&fx, &wrap_info(&first, "auth/jwt/login")),
        "/auth/client_token",
    );
    assert_works(&fx, &token);
    let code = agent.stop();
    assert_eq!(code, Some(0), "{}", agent.stderr());
}

#[test]
fn configs_vault_agent_refuses_with_method_wrap_ttl_are_refused_naming_the_key() {
    let fx = Setup::new().jwt().start();
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let wrapped = || AutoAuth::jwt(&jwt.path, "app").option("wrap_ttl = \"5m\"");
    let tmpl = template("x", &out.join("x"), &[]);
    let cases: [(&str, String, &str); 3] = [
        (
            "two sinks",
            wrapped()
                .sink(&out.join("a"), &[])
                .sink(&out.join("b"), &[])
                .to_string(),
            "auto_auth.method.wrap_ttl: the wrapped login response goes to exactly one sink, found 2",
        ),
        (
            "no sink",
            wrapped().to_string() + &tmpl,
            "auto_auth.method.wrap_ttl: the wrapped login response goes to exactly one sink, found 0",
        ),
        (
            "wrapped twice",
            wrapped()
                .sink_with(&out.join("a"), &[], &["wrap_ttl = \"1m\""])
                .to_string(),
            "auto_auth.sink.wrap_ttl: wrapping is enabled both on the auth method",
        ),
    ];
    for (name, auth, message) in cases {
        let cfg = fx.write_config(&(vault(&fx.addr()) + &auth));
        let bao = bao_agent(&cfg, fx.dir.path(), &[], &["-exit-after-auth"]);
        assert_ne!(bao.code(), 0, "{name}: bao agent accepted it");
        let check = Sidekey::new(["check", "-c"]).args([&cfg]).run();
        assert_eq!(check.code(), 78, "{name}: {}", check.stderr);
        assert!(check.stderr.contains(message), "{name}: {}", check.stderr);
    }
    // bao agent would retry a template with the wrapped response as its token forever: refused here.
    let cfg = fx.write_config(
        &(vault(&fx.addr()) + &wrapped().sink(&out.join("a"), &[]).to_string() + &tmpl),
    );
    let check = Sidekey::new(["check", "-c"]).args([&cfg]).run();
    assert_eq!(check.code(), 78, "{}", check.stderr);
    assert!(
        check
            .stderr
            .contains("template: cannot be used with auto_auth.method.wrap_ttl"),
        "{}",
        check.stderr
    );
}
