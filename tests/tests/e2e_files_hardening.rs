//! Files against hostile neighbours (issue 16): a destination directory swapped for a symlink between two
//! renders is not followed (the write fails naming it, nothing lands at the symlink's target, the agent
//! keeps running); a mode or owner changed from outside is put back on the next refresh, even a mode
//! without the owner's write bit; a directory writable by another user (not sticky) is refused while
//! root's `0777` and sticky ones are fine; a certificate and its key from one issuance always match, and
//! an `atomic_set` switches them with no gap at all (and not at all while one member fails); a destination
//! another user created first in a sticky directory does not hand them the secret; `remove_on_exit` takes
//! an atomic set's directory away with its last member.

// Test code: a failed expectation is a failed test; wall-clock timing is what is measured.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rcgen::PublicKeyData;
use serde_json::json;
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl::{template, template_config, token_file_auto_auth, vault};
use sidekey_tests::users::TestUser;
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey};

const KV: &str = "{{ with secret \"secret/data/hard\" }}{{ .Data.data.v }}{{ end }}";

/// A config with `templates` (already HCL), rendering static secrets again every second.
fn config(fx: &Fixture, templates: &str) -> PathBuf {
    let token = fx.write_file("hard-token", fx.bao.root_token());
    let text = vault(&fx.addr())
        + &token_file_auto_auth(&token)
        + &template_config(&[r#"static_secret_render_interval = "1s""#])
        + templates;
    fx.write_config(&text)
}

fn start(fx: &Fixture, cfg: &Path) -> Background {
    fx.agent().arg("run").arg("-c").arg(cfg).start()
}

/// `sidekey run` with `cfg`, once `dest` holds `want`.
fn rendered(fx: &Fixture, cfg: &Path, dest: &Path, want: &str) -> Background {
    let agent = start(fx, cfg);
    assert!(
        wait_until(WAIT, || read(dest).as_deref() == Some(want)),
        "first render: {}",
        agent.stderr()
    );
    agent
}

fn kv(fx: &Fixture, v: &str) {
    fx.bao.write("secret/data/hard", json!({"data": {"v": v}}));
}

/// A server with `v` at the test's KV path, and an empty output directory.
fn kv_and_out() -> (Fixture, ShmDir) {
    let fx = Setup::new().start();
    kv(&fx, "v");
    (fx, ShmDir::new())
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_directory_swapped_for_a_symlink_between_renders_is_not_followed() {
    let fx = Setup::new().start();
    kv(&fx, "one");
    let out = ShmDir::new();
    let dest = out.join("sub/app.txt");
    let cfg = config(&fx, &template(KV, &dest, &[r#"perms = "0400""#]));
    let mut agent = rendered(&fx, &cfg, &dest, "one");

    // Someone who may write the parent moves the directory away and puts a symlink in its place.
    std::fs::create_dir(out.join("elsewhere")).unwrap();
    std::fs::rename(out.join("sub"), out.join("moved")).unwrap();
    symlink(out.join("elsewhere"), out.join("sub")).unwrap();
    kv(&fx, "two");

    let named = |e: &str| e.contains(&dest.display().to_string()) && e.contains("symlink");
    assert!(
        wait_until(WAIT, || named(&agent.stderr())),
        "the failed write is reported naming the destination: {}",
        agent.stderr()
    );
    assert!(agent.running(), "the agent keeps running");
    assert_eq!(
        std::fs::read_dir(out.join("elsewhere")).unwrap().count(),
        0,
        "nothing is written through the symlink"
    );
    assert_eq!(
        read(&out.join("moved/app.txt")).as_deref(),
        Some("one"),
        "the old file is untouched"
    );
}

#[test]
fn a_mode_or_owner_changed_from_outside_is_restored_on_the_next_refresh() {
    let fx = Setup::new().start();
    kv(&fx, "same");
    let out = ShmDir::new();
    let dest = out.join("app.txt");
    let owner = [
        r#"perms = "0400""#,
        r#"user = "65534""#,
        r#"group = "65534""#,
    ];
    let cfg = config(&fx, &template(KV, &dest, &owner));
    let agent = rendered(&fx, &cfg, &dest, "same");
    let inode = std::fs::metadata(&dest).unwrap().ino();

    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(
        wait_until(WAIT, || mode_of(&dest) == 0o400),
        "the configured 0400 is put back: {}",
        agent.stderr()
    );
    std::os::unix::fs::chown(&dest, Some(0), Some(0)).unwrap();
    let owned = || {
        let m = std::fs::metadata(&dest).unwrap();
        (m.uid(), m.gid()) == (65534, 65534)
    };
    assert!(
        wait_until(WAIT, owned),
        "the configured owner is put back: {}",
        agent.stderr()
    );
    assert_eq!(mode_of(&dest), 0o400);
    assert_eq!(
        std::fs::metadata(&dest).unwrap().ino(),
        inode,
        "restored in place: the bytes did not change"
    );
    assert!(
        agent.stderr().contains("restored the configured ones"),
        "{}",
        agent.stderr()
    );
}

/// A destination deleted from outside is written again at the next refresh, though its secret did not
/// change (consul-template re-creates it at its next render).
#[test]
fn a_destination_deleted_from_outside_is_written_again_at_the_next_refresh() {
    let fx = Setup::new().start();
    kv(&fx, "same");
    let out = ShmDir::new();
    let dest = out.join("app.txt");
    let cfg = config(&fx, &template(KV, &dest, &[r#"perms = "0400""#]));
    let agent = rendered(&fx, &cfg, &dest, "same");
    std::fs::remove_file(&dest).unwrap();
    assert!(
        wait_until(WAIT, || std::fs::read_to_string(&dest)
            .is_ok_and(|t| t == "same")),
        "written again: {}",
        agent.stderr()
    );
    assert_eq!(mode_of(&dest), 0o400);
}

/// `sidekey check` of a config writing `dir/a.txt` names `dir` and says `why`; the config.
fn check_says(fx: &Fixture, dir: &Path, why: &str) -> PathBuf {
    let cfg = config(fx, &template(KV, &dir.join("a.txt"), &[]));
    let check = Sidekey::new(["check", "-c"]).args([&cfg]).run();
    assert!(
        check.stderr.contains(&dir.display().to_string()) && check.stderr.contains(why),
        "sidekey check warns: {}",
        check.stderr
    );
    cfg
}

#[test]
fn a_directory_another_user_may_write_is_refused_but_roots_0777_and_sticky_ones_are_not() {
    let (fx, out) = kv_and_out();
    let user = TestUser::create("skt-fhard");
    let dir = |name: &str, mode: u32, uid: u32| {
        let d = out.join(name);
        std::fs::create_dir(&d).unwrap();
        std::os::unix::fs::chown(&d, Some(uid), Some(uid)).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
        d
    };
    let theirs = dir("theirs", 0o777, user.uid);
    let root = dir("root", 0o777, 0);
    let sticky = dir("sticky", 0o1777, user.uid);

    let bad = check_says(&fx, &theirs, "writable by others");
    let run = Sidekey::new(["run", "--once", "-c"]).args([&bad]).run();
    assert_ne!(run.code(), 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&theirs.display().to_string()) && run.stderr.contains("not sticky"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0);

    let linked = out.join("linked");
    symlink(&root, &linked).unwrap();
    check_says(&fx, &linked, "is a symlink");

    let good = config(
        &fx,
        &(template(KV, &root.join("a.txt"), &[]) + &template(KV, &sticky.join("a.txt"), &[])),
    );
    let run = Sidekey::new(["run", "--once", "-c"]).args([&good]).run();
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert_eq!(read(&root.join("a.txt")).as_deref(), Some("v"));
    assert_eq!(read(&sticky.join("a.txt")).as_deref(), Some("v"));
}

#[test]
fn a_destination_another_user_created_first_in_a_sticky_directory_is_not_handed_to_them() {
    use std::os::unix::fs::MetadataExt;
    let (fx, out) = kv_and_out();
    std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // Like /dev/shm or /tmp: root's, sticky, anyone may create files in it.
    let shared = out.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let dest = shared.join("app.pem");
    let user = TestUser::create("skt-fplant");
    let plant = format!("umask 0; echo planted > {}", dest.display());
    let status = user.command("sh").args(["-c", &plant]).status().unwrap();
    assert!(status.success());
    assert_eq!(std::fs::metadata(&dest).unwrap().uid(), user.uid);

    let cfg = config(&fx, &template(KV, &dest, &[]));
    let run = Sidekey::new(["run", "--once", "-c"]).args([&cfg]).run();
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert_eq!(read(&dest).as_deref(), Some("v"));
    let m = std::fs::metadata(&dest).unwrap();
    assert_ne!(
        m.uid(),
        user.uid,
        "the secret is not given to whoever created the name first"
    );
    assert_ne!(m.gid(), user.gid);
    assert_eq!(
        m.mode() & 0o022,
        0,
        "nor written with their mode: {:o}",
        m.mode()
    );
}

#[test]
fn remove_on_exit_takes_an_atomic_set_and_its_secrets_away() {
    let (fx, out) = kv_and_out();
    let token = fx.write_file("hard-token", fx.bao.root_token());
    let set = ["atomic_set = true"];
    let text = vault(&fx.addr())
        + &token_file_auto_auth(&token)
        + &template_config(&["remove_on_exit = true"])
        + &template(KV, &out.join("a"), &set)
        + &template(KV, &out.join("b"), &set);
    let cfg = fx.write_config(&text);
    let mut agent = rendered(&fx, &cfg, &out.join("b"), "v");
    assert!(out.join("..data").exists());
    assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());
    assert!(
        out.entries().is_empty(),
        "links, ..data and the set directory are gone: {:?}",
        out.entries()
    );
}

/// One issuance, two templates: the certificate, and its key (PKCS#8, which `rcgen` reads).
fn pair_templates(out: &Path, extra: &[&str]) -> String {
    let issue = "secret \"pki/issue/app\" \"common_name=pair.example.test\" \"ttl=4s\" \"private_key_format=pkcs8\"";
    template(
        &format!("{{{{ with {issue} }}}}{{{{ .Data.certificate }}}}{{{{ end }}}}"),
        &out.join("cert.pem"),
        extra,
    ) + &template(
        &format!("{{{{ with {issue} }}}}{{{{ .Data.private_key }}}}{{{{ end }}}}"),
        &out.join("key.pem"),
        extra,
    )
}

/// Whether `key` (PEM) is the private key of `cert` (PEM): the certificate holds its public key.
fn matches(cert: &str, key: &str) -> bool {
    let Ok(pair) = rcgen::KeyPair::from_pem(key) else {
        return false;
    };
    let body: String = cert.lines().filter(|l| !l.starts_with("-----")).collect();
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body) else {
        return false;
    };
    let public = pair.subject_public_key_info();
    !public.is_empty() && der.windows(public.len()).any(|w| w == public.as_slice())
}

/// Watch a pair for `for_how_long` with `read_pair`; returns the distinct certificates seen and the longest
/// time a mismatched pair was seen for.
fn watch(
    for_how_long: Duration,
    mut read_pair: impl FnMut() -> Option<(String, String)>,
) -> (usize, Duration) {
    let mut certs = std::collections::HashSet::new();
    let mut longest = Duration::ZERO;
    let mut mismatch_since: Option<Instant> = None;
    let end = Instant::now() + for_how_long;
    while Instant::now() < end {
        if let Some((cert, key)) = read_pair() {
            if matches(&cert, &key) {
                mismatch_since = None;
            } else {
                let since = *mismatch_since.get_or_insert_with(Instant::now);
                longest = longest.max(since.elapsed());
            }
            certs.insert(cert);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    (certs.len(), longest)
}

#[test]
fn a_certificate_and_its_key_from_one_issuance_always_match() {
    let fx = Setup::new().pki().start();
    let out = ShmDir::new();
    let cfg = config(&fx, &pair_templates(out.path(), &[]));
    let agent = start(&fx, &cfg);
    let (cert, key) = (out.join("cert.pem"), out.join("key.pem"));
    assert!(
        wait_until(WAIT, || read(&key).is_some()),
        "{}",
        agent.stderr()
    );
    let (seen, longest) = watch(Duration::from_secs(10), || {
        Some((read(&cert)?, read(&key)?))
    });
    assert!(
        seen >= 3,
        "re-issued several times: {seen} certificates seen"
    );
    assert!(
        longest < Duration::from_millis(500),
        "a key that does not match its certificate for no longer than the rename gap: {longest:?}"
    );
}

#[test]
fn an_atomic_set_never_shows_a_mismatched_pair() {
    let fx = Setup::new().pki().start();
    let out = ShmDir::new();
    let cfg = config(&fx, &pair_templates(out.path(), &["atomic_set = true"]));
    let agent = start(&fx, &cfg);
    let data = out.join("..data");
    assert!(
        wait_until(WAIT, || read(&out.join("key.pem")).is_some()),
        "{}",
        agent.stderr()
    );
    assert_eq!(
        std::fs::read_link(out.join("cert.pem")).unwrap(),
        Path::new("..data/cert.pem")
    );
    // The reader's side of the layout: open `..data/` once, read the members through it.
    let (seen, longest) = watch(Duration::from_secs(10), || {
        let dir = std::fs::File::open(&data).ok()?;
        let at = |name: &str| {
            let fd = nix::fcntl::openat(
                &dir,
                name,
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .ok()?;
            std::io::read_to_string(std::fs::File::from(fd)).ok()
        };
        Some((at("cert.pem")?, at("key.pem")?))
    });
    assert!(
        seen >= 3,
        "re-issued several times: {seen} certificates seen"
    );
    assert_eq!(longest, Duration::ZERO, "a mismatched pair was seen");
    let sets: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("..") && n != "..data")
        .collect();
    assert!(sets.len() <= 1, "old sets are removed: {sets:?}");
}

#[test]
fn an_atomic_set_is_not_switched_while_one_member_fails() {
    let fx = Setup::new().start();
    fx.bao
        .write("secret/data/hard", json!({"data": {"a": "a1", "b": "b1"}}));
    let out = ShmDir::new();
    let member = |key: &str| {
        template(
            &format!(
                "{{{{ with secret \"secret/data/hard\" }}}}{{{{ .Data.data.{key} }}}}{{{{ end }}}}"
            ),
            &out.join(key),
            &["atomic_set = true"],
        )
    };
    let cfg = config(&fx, &(member("a") + &member("b")));
    let agent = rendered(&fx, &cfg, &out.join("b"), "b1");
    assert_eq!(read(&out.join("a")).as_deref(), Some("a1"));

    // `a` changes, `b` can no longer render: neither file moves.
    fx.bao
        .write("secret/data/hard", json!({"data": {"a": "a2"}}));
    assert!(
        wait_until(WAIT, || agent.stderr().contains("atomic_set not switched")),
        "{}",
        agent.stderr()
    );
    assert_eq!(read(&out.join("a")).as_deref(), Some("a1"));
    assert_eq!(read(&out.join("b")).as_deref(), Some("b1"));

    fx.bao
        .write("secret/data/hard", json!({"data": {"a": "a3", "b": "b3"}}));
    assert!(
        wait_until(WAIT, || read(&out.join("b")).as_deref() == Some("b3")),
        "{}",
        agent.stderr()
    );
    assert_eq!(read(&out.join("a")).as_deref(), Some("a3"));
}
