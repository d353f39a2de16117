use super::*;

/// Two members, each a destination and its bytes.
fn pair<'a>(
    (a, x): (&'a FileTarget, &'a [u8]),
    (b, y): (&'a FileTarget, &'a [u8]),
) -> [Member<'a>; 2] {
    [
        Member {
            target: a,
            bytes: x,
        },
        Member {
            target: b,
            bytes: y,
        },
    ]
}

fn shm_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sidekey-set-")
        .tempdir_in("/dev/shm")
        .unwrap()
}

fn sets_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("..") && n != DATA)
        .collect();
    v.sort();
    v
}

#[test]
fn members_are_switched_together_and_the_old_set_goes() {
    let d = shm_dir();
    let cert = FileTarget::new(d.path().join("out/cert.pem"), 0o400);
    let key = FileTarget::new(d.path().join("out/key.pem"), 0o400);
    let set = |c: &'static [u8], k: &'static [u8]| {
        write(&pair((&cert, c), (&key, k)))
            .unwrap()
            .into_iter()
            .map(|(o, _)| o)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        set(b"c1", b"k1"),
        [WriteOutcome::Written, WriteOutcome::Written]
    );
    let out = d.path().join("out");
    assert_eq!(
        std::fs::read_link(out.join("cert.pem")).unwrap(),
        Path::new("..data/cert.pem")
    );
    assert_eq!(std::fs::read(out.join("key.pem")).unwrap(), b"k1");
    let first = sets_in(&out);
    assert_eq!(first.len(), 1);
    assert_eq!(
        set(b"c1", b"k1"),
        [WriteOutcome::Unchanged, WriteOutcome::Unchanged]
    );
    assert_eq!(
        set(b"c2", b"k1"),
        [WriteOutcome::Written, WriteOutcome::Unchanged]
    );
    assert_eq!(std::fs::read(out.join("cert.pem")).unwrap(), b"c2");
    assert_eq!(std::fs::read(out.join("key.pem")).unwrap(), b"k1");
    let back = super::super::file::read_back(&key.path, 64).unwrap();
    assert_eq!(back.as_slice(), b"k1", "pkiCert reads a member back");
    let second = sets_in(&out);
    assert_eq!(second.len(), 1, "the previous set is removed: {second:?}");
    assert_ne!(first, second);
    let data = std::fs::read_link(out.join(DATA)).unwrap();
    assert_eq!(data, Path::new(&second[0]));
    let mode = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    };
    assert_eq!(mode(&out.join("cert.pem")), 0o400);
    assert_eq!(mode(&out.join(&second[0])), 0o700);
}

#[test]
fn removing_the_last_member_removes_the_set_and_its_secrets() {
    let d = shm_dir();
    let a = FileTarget::new(d.path().join("a"), 0o400);
    let b = FileTarget::new(d.path().join("b"), 0o400);
    let members = pair((&a, b"1"), (&b, b"2"));
    write(&members).unwrap();
    remove(&a.path).unwrap();
    assert!(std::fs::symlink_metadata(&a.path).is_err());
    assert_eq!(std::fs::read(&b.path).unwrap(), b"2", "b stays readable");
    assert_eq!(sets_in(d.path()).len(), 1);
    remove(&b.path).unwrap();
    let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    remove(&b.path).unwrap();
}

#[test]
fn every_spelling_of_one_directory_names_one_set() {
    let d = shm_dir();
    let real = std::fs::canonicalize(d.path()).unwrap();
    std::fs::create_dir(real.join("out")).unwrap();
    std::os::unix::fs::symlink(&real, real.join("up")).unwrap();
    let key = set_key(&real.join("out/a"));
    assert_eq!(set_key(&real.join("./out/b")), key);
    assert_eq!(
        set_key(&real.join("up/out/c")),
        key,
        "through a symlink above"
    );
    assert_ne!(set_key(&real.join("a")), key);
    assert_eq!(set_key(Path::new("rel/a")), set_key(Path::new("./rel/b")));
}

#[test]
fn a_failed_link_after_the_switch_still_removes_the_old_set() {
    let d = shm_dir();
    let a = FileTarget::new(d.path().join("a"), 0o400);
    let b = FileTarget::new(d.path().join("b"), 0o400);
    let set = |x: &'static [u8]| write(&pair((&a, x), (&b, x)));
    set(b"1").unwrap();
    let first = sets_in(d.path());
    std::fs::remove_file(&b.path).unwrap();
    std::fs::create_dir(&b.path).unwrap();
    std::fs::write(b.path.join("x"), b"").unwrap();
    let err = set(b"2").unwrap_err().to_string();
    assert!(err.contains("link into ..data"), "{err}");
    let now = sets_in(d.path());
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, first, "the old set (with the old secrets) is gone");
    assert_eq!(std::fs::read(&a.path).unwrap(), b"2");
}
