//! The state file store: encryption round trip, refusals (another key, altered, plain where a key is
//! configured), the key's sources and errors, the file's mode, atomic replacement, symlinks, and
//! `keep_after_import`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::*;
use crate::config::{Origin, PersistConfig, PersistKind};

/// A token-shaped string the tests look for in the file.
const TOKEN: &str = "s.persist-test-token-value";
const DOC: &str = r#"{"v":1,"token":"s.persist-test-token-value","accessor":"acc","entries":[{"lease_id":"database/creds/app/LEASE-123"}]}"#;

struct Env(Vec<(String, String)>);

impl EnvSource for Env {
    fn var(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
    fn vars_os(&self) -> Vec<(OsString, OsString)> {
        Vec::new()
    }
}

fn no_env() -> Env {
    Env(Vec::new())
}

fn shm() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sidekey-persist-")
        .tempdir_in("/dev/shm")
        .unwrap()
}

fn write_key(dir: &Path, name: &str, byte: u8) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, hex::encode([byte; 32])).unwrap();
    p
}

fn config(kind: PersistKind, path: PathBuf, key_file: Option<PathBuf>) -> PersistConfig {
    PersistConfig {
        kind,
        path,
        key_origin: key_file.as_ref().map(|_| Origin {
            file: "agent.hcl".into(),
            line: 4,
        }),
        key_file,
        keep_after_import: kind != PersistKind::Kubernetes,
        exit_on_err: false,
        allow_non_tmpfs: false,
        origin: Origin {
            file: "agent.hcl".into(),
            line: 2,
        },
    }
}

fn store(dir: &Path, key: u8) -> StateStore {
    let key = write_key(dir, &format!("key{key}"), key);
    let c = config(PersistKind::File, dir.join("state"), Some(key));
    StateStore::open(&c, &no_env()).unwrap()
}

#[test]
fn what_is_saved_is_imported_and_the_file_is_useless_without_the_key() {
    let dir = shm();
    let mut s = store(dir.path(), 1);
    s.save(DOC.as_bytes()).unwrap();
    let file = std::fs::read(dir.path().join("state")).unwrap();
    let text = String::from_utf8_lossy(&file);
    assert!(!text.contains(TOKEN), "the token is in clear: {text}");
    assert!(
        !text.contains("LEASE-123"),
        "a lease id is in clear: {text}"
    );
    assert!(
        !text.contains("accessor"),
        "the document is in clear: {text}"
    );
    assert_eq!(s.import().unwrap().unwrap().as_slice(), DOC.as_bytes());
    let mut other = store(dir.path(), 2);
    let e = other.import().unwrap_err();
    assert!(
        matches!(
            e,
            ImportError::Open {
                source: OpenError::Decrypt,
                ..
            }
        ),
        "{e}"
    );
    let shown = e.to_string();
    assert!(
        shown.contains("cannot be decrypted") && shown.contains("key2"),
        "{shown}"
    );
    assert!(!shown.contains(TOKEN));
}

#[test]
fn each_write_has_a_fresh_nonce_and_an_unchanged_document_is_not_rewritten() {
    let dir = shm();
    let mut s = store(dir.path(), 1);
    let path = dir.path().join("state");
    s.save(DOC.as_bytes()).unwrap();
    let first = std::fs::read(&path).unwrap();
    s.save(DOC.as_bytes()).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), first, "rewritten unchanged");
    s.save(b"{\"v\":1,\"token\":\"other\"}").unwrap();
    s.save(DOC.as_bytes()).unwrap();
    let again = std::fs::read(&path).unwrap();
    assert_ne!(
        again, first,
        "the same document sealed twice looks the same"
    );
    assert_eq!(s.import().unwrap().unwrap().as_slice(), DOC.as_bytes());
}

#[test]
fn an_altered_file_is_refused_whole() {
    let dir = shm();
    let mut s = store(dir.path(), 1);
    let path = dir.path().join("state");
    s.save(DOC.as_bytes()).unwrap();
    let good = std::fs::read(&path).unwrap();
    let env: serde_json::Value = serde_json::from_slice(&good).unwrap();
    let data = env["data"].as_str().unwrap();
    // One flipped bit in the ciphertext.
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    bytes[5] ^= 0x01;
    let tampered = serde_json::json!({
        "format": env["format"], "v": env["v"], "cipher": env["cipher"], "nonce": env["nonce"],
        "data": base64::engine::general_purpose::STANDARD.encode(&bytes),
    });
    std::fs::write(&path, serde_json::to_vec(&tampered).unwrap()).unwrap();
    let e = s.import().unwrap_err();
    assert!(
        matches!(
            e,
            ImportError::Open {
                source: OpenError::Decrypt,
                ..
            }
        ),
        "{e}"
    );
    // The envelope's version is bound too: a changed one does not open.
    let mut bumped = env.clone();
    bumped["v"] = serde_json::json!(2);
    std::fs::write(&path, serde_json::to_vec(&bumped).unwrap()).unwrap();
    assert!(matches!(
        s.import().unwrap_err(),
        ImportError::Open {
            source: OpenError::Version(2),
            ..
        }
    ));
    std::fs::write(&path, b"garbage").unwrap();
    assert!(matches!(
        s.import().unwrap_err(),
        ImportError::Open {
            source: OpenError::NotSealed,
            ..
        }
    ));
}

#[test]
fn a_plain_file_is_refused_where_a_key_is_configured_and_a_sealed_one_without() {
    let dir = shm();
    let path = dir.path().join("state");
    std::fs::write(&path, DOC).unwrap();
    let mut sealed = store(dir.path(), 1);
    assert!(matches!(
        sealed.import().unwrap_err(),
        ImportError::Plain(..)
    ));
    sealed.save(DOC.as_bytes()).unwrap();
    let mut plain =
        StateStore::open(&config(PersistKind::LeaseStateFile, path, None), &no_env()).unwrap();
    assert!(matches!(plain.import().unwrap_err(), ImportError::NoKey(_)));
}

#[test]
fn lease_state_file_without_a_key_stays_plain_with_a_warning() {
    let dir = shm();
    let path = dir.path().join("state.json");
    let mut plain = StateStore::open(
        &config(PersistKind::LeaseStateFile, path.clone(), None),
        &no_env(),
    )
    .unwrap();
    let w = plain.warning().unwrap();
    assert!(w.starts_with("agent.hcl:2: lease_state_file:"), "{w}");
    assert!(w.contains("lease_state_key_file"), "{w}");
    plain.save(DOC.as_bytes()).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), DOC.as_bytes());
    assert_eq!(plain.import().unwrap().unwrap().as_slice(), DOC.as_bytes());
    assert!(path.exists(), "lease_state_file is kept after a read");
}

#[test]
fn a_systemd_credential_encrypts_when_no_key_file_is_given() {
    let dir = shm();
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    write_key(&creds, key::CREDENTIAL, 7);
    let env = Env(vec![(
        "CREDENTIALS_DIRECTORY".into(),
        creds.display().to_string(),
    )]);
    let path = dir.path().join("state.json");
    let mut s = StateStore::open(
        &config(PersistKind::LeaseStateFile, path.clone(), None),
        &env,
    )
    .unwrap();
    assert!(s.warning().is_none());
    s.save(DOC.as_bytes()).unwrap();
    assert!(sealed::is_sealed(&std::fs::read(&path).unwrap()));
    assert_eq!(s.import().unwrap().unwrap().as_slice(), DOC.as_bytes());
    // An explicit key file wins over the credential.
    let k = write_key(dir.path(), "explicit", 9);
    let mut explicit = StateStore::open(&config(PersistKind::File, path, Some(k)), &env).unwrap();
    assert!(matches!(
        explicit.import().unwrap_err(),
        ImportError::Open { .. }
    ));
}

#[test]
fn missing_and_malformed_keys_are_configuration_errors_naming_file_and_line() {
    let dir = shm();
    let path = dir.path().join("state");
    let e = StateStore::open(&config(PersistKind::File, path.clone(), None), &no_env())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("agent.hcl:2: cache.persist \"file\": no key") && e.contains("key_file"),
        "{e}"
    );
    // Vault Agent's generated configs carry persist "kubernetes" without a key: loaded, not served.
    let (store, warning) = open(
        &config(PersistKind::Kubernetes, path.clone(), None),
        &no_env(),
    )
    .unwrap();
    assert!(store.is_none());
    let w = warning.unwrap();
    assert!(
        w.starts_with("agent.hcl:2: cache.persist \"kubernetes\": not served")
            && w.contains("never keeps the key next to the data")
            && w.contains("key_file"),
        "{w}"
    );
    let short = dir.path().join("short");
    std::fs::write(&short, hex::encode([1u8; 16])).unwrap();
    let e = StateStore::open(
        &config(PersistKind::File, path.clone(), Some(short)),
        &no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("agent.hcl:4: key_file: the key in ")
            && e.contains("16 bytes written as hex"),
        "{e}"
    );
    let missing = dir.path().join("missing");
    let e = StateStore::open(&config(PersistKind::File, path, Some(missing)), &no_env())
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read it"), "{e}");
}

#[test]
fn the_file_is_0600_replaced_atomically_and_never_written_through_a_symlink() {
    let dir = shm();
    let mut s = store(dir.path(), 1);
    let path = dir.path().join("state");
    // A symlink planted where the state file goes is replaced, not followed.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "untouched").unwrap();
    std::os::unix::fs::symlink(&victim, &path).unwrap();
    assert!(
        matches!(s.import().unwrap_err(), ImportError::Read(_)),
        "read through a symlink"
    );
    s.save(DOC.as_bytes()).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let inode = {
        use std::os::unix::fs::MetadataExt;
        meta.ino()
    };
    s.save(b"{\"v\":1}").unwrap();
    let after = std::fs::symlink_metadata(&path).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_ne!(
        after.ino(),
        inode,
        "replaced by rename, not rewritten in place"
    );
    assert_eq!(after.permissions().mode() & 0o777, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn a_state_file_off_tmpfs_is_refused_unless_allowed() {
    let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
    if crate::output::file::destination_on_memory_fs(&dir.path().join("x")) != Some(false) {
        return; // the checkout itself is on tmpfs: nothing to prove here
    }
    let key = write_key(dir.path(), "key", 1);
    let mut c = config(PersistKind::File, dir.path().join("state"), Some(key));
    let e = StateStore::open(&c, &no_env())
        .unwrap()
        .save(DOC.as_bytes())
        .unwrap_err();
    assert!(
        e.contains("outside tmpfs") && e.contains("allow_non_tmpfs"),
        "{e}"
    );
    c.allow_non_tmpfs = true;
    StateStore::open(&c, &no_env())
        .unwrap()
        .save(DOC.as_bytes())
        .unwrap();
}

#[test]
fn without_keep_after_import_the_file_is_read_once_then_removed_and_not_written_again() {
    let dir = shm();
    let key = write_key(dir.path(), "key", 1);
    let c = config(PersistKind::Kubernetes, dir.path().join("state"), Some(key));
    assert!(!c.keep_after_import);
    let mut init = StateStore::open(&c, &no_env()).unwrap();
    assert!(
        init.import().unwrap().is_none(),
        "nothing to import at first"
    );
    init.save(DOC.as_bytes()).unwrap();
    let mut sidecar = StateStore::open(&c, &no_env()).unwrap();
    assert_eq!(
        sidecar.import().unwrap().unwrap().as_slice(),
        DOC.as_bytes()
    );
    assert!(!c.path.exists(), "removed after import");
    sidecar.save(DOC.as_bytes()).unwrap();
    assert!(!c.path.exists(), "written again after import");
    // A file that does not open is removed all the same (as Vault Agent does).
    std::fs::write(&c.path, b"garbage").unwrap();
    let mut third = StateStore::open(&c, &no_env()).unwrap();
    assert!(third.import().is_err());
    assert!(!c.path.exists());
}

#[test]
fn remove_deletes_the_file_and_a_later_save_writes_it_again() {
    let dir = shm();
    let mut s = store(dir.path(), 1);
    let path = dir.path().join("state");
    s.save(DOC.as_bytes()).unwrap();
    s.remove().unwrap();
    assert!(!path.exists());
    s.remove().unwrap();
    s.save(DOC.as_bytes()).unwrap();
    assert!(path.exists());
}
