use super::*;

#[test]
fn the_symlinks_above_are_resolved_and_missing_directories_appended() {
    let d = tempfile::tempdir_in("/dev/shm").unwrap();
    let real = std::fs::canonicalize(d.path()).unwrap();
    std::os::unix::fs::symlink(&real, real.join("link")).unwrap();
    assert_eq!(
        resolve_above(&real.join("link/new/deeper")).unwrap(),
        real.join("new/deeper")
    );
    assert_eq!(
        resolve_above(&real.join("link")).unwrap(),
        real.join("link"),
        "the directory itself stays as it is (and is refused when opened: a symlink)"
    );
    assert!(resolve_above(&real.join("missing/..")).is_err());
    assert!(resolve_above(&real.join("missing/../x")).is_err());
    assert_eq!(
        resolve_above(&real.join("link/../x/y")).unwrap(),
        real.parent().unwrap().join("x/y"),
        "`..` after a symlink goes up from where it points"
    );
    let here = resolve_above(Path::new(".")).unwrap();
    assert!(here.is_absolute(), "{}", here.display());
}

#[test]
fn a_symlink_above_owned_by_someone_else_is_not_followed() {
    if !nix::unistd::geteuid().is_root() {
        return; // only root can give a symlink away
    }
    let d = tempfile::tempdir_in("/dev/shm").unwrap();
    let real = std::fs::canonicalize(d.path()).unwrap();
    std::fs::create_dir(real.join("there")).unwrap();
    std::os::unix::fs::symlink(real.join("there"), real.join("link")).unwrap();
    std::os::unix::fs::lchown(real.join("link"), Some(4242), Some(4242)).unwrap();
    let err = resolve_above(&real.join("link/out"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("owned by uid 4242"), "{err}");
    assert!(refused(&real.join("link/out/f")).is_some());
    assert!(
        refused(&real.join("link/f")).is_some_and(|w| w.contains("is a symlink")),
        "the destination's own directory"
    );
}

#[test]
fn a_directory_squatted_before_sidekey_creates_it_is_refused_unless_its_owner_is_trusted() {
    if !nix::unistd::geteuid().is_root() {
        return; // only root can give a directory away
    }
    let d = tempfile::tempdir_in("/dev/shm").unwrap();
    let parent = nix::fcntl::open(
        d.path(),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let squat = |name: &str, uid: u32| {
        std::fs::create_dir(d.path().join(name)).unwrap();
        std::os::unix::fs::chown(d.path().join(name), Some(uid), Some(uid)).unwrap();
    };
    let create = |user| Some(Create { mode: 0o700, user });
    squat("theirs", 4242);
    let err = make(
        &parent,
        OsStr::new("theirs"),
        create(None),
        flags,
        Path::new("t"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("uid 4242"), "{err}");
    squat("apps", 4243);
    assert!(
        make(
            &parent,
            OsStr::new("apps"),
            create(Some(4243)),
            flags,
            Path::new("a")
        )
        .is_ok()
    );
    assert!(
        make(
            &parent,
            OsStr::new("new"),
            create(None),
            flags,
            Path::new("n")
        )
        .is_ok()
    );
}
