use std::os::unix::fs::{PermissionsExt, symlink};

use super::*;

fn target(dir: &Path, name: &str) -> FileTarget {
    FileTarget::new(dir.join(name), 0o400)
}

#[test]
fn keep_mode_keeps_what_an_operator_set() {
    let dir = shm_dir();
    let mut t = target(dir.path(), "f");
    t.keep_mode = true;
    write_atomic(&t, b"one").unwrap();
    assert_eq!(
        mode_of(&t.path),
        0o400,
        "a new file gets the template's mode"
    );
    std::fs::set_permissions(&t.path, std::fs::Permissions::from_mode(0o640)).unwrap();
    write_atomic(&t, b"two").unwrap();
    assert_eq!(mode_of(&t.path), 0o640);
    t.keep_mode = false;
    write_atomic(&t, b"three").unwrap();
    assert_eq!(
        mode_of(&t.path),
        0o400,
        "perms given: the template's mode wins"
    );
}

#[test]
fn an_operators_chown_survives_a_rewrite() {
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::geteuid().is_root() {
        return; // only root can give a file away
    }
    let dir = shm_dir();
    let t = target(dir.path(), "f");
    write_atomic(&t, b"one").unwrap();
    std::os::unix::fs::chown(&t.path, Some(65534), Some(65534)).unwrap();
    write_atomic(&t, b"two").unwrap();
    let m = std::fs::metadata(&t.path).unwrap();
    assert_eq!((m.uid(), m.gid()), (65534, 65534));
}

#[test]
fn a_file_planted_where_others_may_write_gives_the_secret_neither_its_owner_nor_its_mode() {
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::geteuid().is_root() {
        return; // only root can give a file away
    }
    let dir = shm_dir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let mut t = target(dir.path(), "f");
    t.keep_mode = true;
    std::fs::write(&t.path, b"planted").unwrap();
    std::fs::set_permissions(&t.path, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::os::unix::fs::chown(&t.path, Some(4242), Some(4242)).unwrap();
    write_atomic(&t, b"secret").unwrap();
    let m = std::fs::metadata(&t.path).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 0));
    assert_eq!(m.mode() & 0o7777, 0o400);
}

#[test]
fn a_file_with_another_hard_link_is_no_model_for_owner_or_mode() {
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::geteuid().is_root() {
        return; // only root can give a file away
    }
    let dir = shm_dir();
    let mut t = target(dir.path(), "f");
    t.keep_mode = true;
    std::fs::write(&t.path, b"old").unwrap();
    std::fs::set_permissions(&t.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(&t.path, Some(4242), Some(4242)).unwrap();
    std::fs::hard_link(&t.path, dir.path().join("other")).unwrap();
    write_atomic(&t, b"new").unwrap();
    let m = std::fs::metadata(&t.path).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (0, 0o400));
}

#[test]
fn a_backup_keeps_the_old_content_and_the_destination_keeps_its_mode() {
    let dir = shm_dir();
    let mut t = target(dir.path(), "f");
    t.keep_mode = true;
    t.backup = true;
    std::fs::write(&t.path, b"old").unwrap();
    std::fs::set_permissions(&t.path, std::fs::Permissions::from_mode(0o640)).unwrap();
    write_atomic(&t, b"new").unwrap();
    assert_eq!(std::fs::read(&t.path).unwrap(), b"new");
    assert_eq!(
        mode_of(&t.path),
        0o640,
        "the operator's mode survives a backup"
    );
    let bak = dir.path().join("f.bak");
    assert_eq!(std::fs::read(&bak).unwrap(), b"old");
    write_atomic(&t, b"newer").unwrap();
    assert_eq!(
        std::fs::read(&bak).unwrap(),
        b"new",
        "the previous backup is replaced"
    );
}

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn created_directories_open_only_to_those_the_file_is_for() {
    assert_eq!(dir_mode(0o600), 0o700);
    assert_eq!(dir_mode(0o400), 0o700);
    assert_eq!(dir_mode(0o640), 0o750);
    assert_eq!(dir_mode(0o644), 0o755);
    assert_eq!(dir_mode(0o604), 0o705);
}

fn shm_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sidekey-out-")
        .tempdir_in("/dev/shm")
        .unwrap()
}

#[test]
fn writes_with_final_mode_and_skips_unchanged() {
    let d = shm_dir();
    let t = target(d.path(), "a/b/secret.txt");
    assert_eq!(write_atomic(&t, b"one").unwrap(), WriteOutcome::Written);
    let meta = std::fs::metadata(&t.path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o400);
    assert_eq!(std::fs::read(&t.path).unwrap(), b"one");
    assert_eq!(write_atomic(&t, b"one").unwrap(), WriteOutcome::Unchanged);
    assert_eq!(write_atomic(&t, b"two").unwrap(), WriteOutcome::Written);
    assert_eq!(std::fs::read(&t.path).unwrap(), b"two");
    let leftovers: Vec<_> = std::fs::read_dir(d.path().join("a/b")).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file may remain");
}

#[test]
fn replaces_a_symlink_instead_of_following_it() {
    let d = shm_dir();
    let victim = d.path().join("victim");
    std::fs::write(&victim, b"keep").unwrap();
    symlink(&victim, d.path().join("out")).unwrap();
    write_atomic(&target(d.path(), "out"), b"secret").unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    assert!(
        !std::fs::symlink_metadata(d.path().join("out"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn refuses_a_symlinked_directory() {
    let d = shm_dir();
    std::fs::create_dir(d.path().join("real")).unwrap();
    symlink(d.path().join("real"), d.path().join("link")).unwrap();
    let err = write_atomic(&target(d.path(), "link/out"), b"x").unwrap_err();
    assert!(
        matches!(
            err,
            OutputError::Dir {
                source: dir::DirError::Unsafe { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(!d.path().join("real/out").exists());
}

#[test]
fn refuses_non_tmpfs_unless_allowed() {
    let d = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
    let mut t = target(d.path(), "out");
    if is_memory_fs(&dir::open(d.path(), None).unwrap()).unwrap() {
        return; // the checkout itself is on tmpfs: nothing to prove here
    }
    assert!(matches!(
        write_atomic(&t, b"x"),
        Err(OutputError::NotTmpfs(_))
    ));
    assert!(!t.path.exists());
    t.allow_non_tmpfs = true;
    assert_eq!(write_atomic(&t, b"x").unwrap(), WriteOutcome::Written);
}

#[test]
fn a_directory_swapped_for_a_symlink_between_writes_is_not_followed() {
    let d = shm_dir();
    let t = target(d.path(), "sub/out");
    write_atomic(&t, b"one").unwrap();
    // Someone with write access to the parent moves the directory away and puts a symlink in its place.
    std::fs::create_dir(d.path().join("elsewhere")).unwrap();
    std::fs::rename(d.path().join("sub"), d.path().join("moved")).unwrap();
    symlink(d.path().join("elsewhere"), d.path().join("sub")).unwrap();
    let err = write_atomic(&t, b"two").unwrap_err().to_string();
    assert!(
        err.contains(&t.path.display().to_string()) && err.contains("symlink"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(d.path().join("elsewhere"))
            .unwrap()
            .count(),
        0,
        "nothing may be written through the symlink"
    );
    assert_eq!(std::fs::read(d.path().join("moved/out")).unwrap(), b"one");
}

#[test]
fn a_file_where_a_directory_belongs_is_named_as_not_a_directory() {
    let d = shm_dir();
    std::fs::write(d.path().join("plain"), b"x").unwrap();
    let err = write_atomic(&target(d.path(), "plain/out"), b"one")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is a symlink or not a directory;") && !err.contains("when sidekey started"),
        "{err}"
    );
}

#[test]
fn a_mode_changed_from_outside_is_restored_on_an_unchanged_refresh() {
    let d = shm_dir();
    let t = target(d.path(), "f");
    write_atomic(&t, b"one").unwrap();
    std::fs::set_permissions(&t.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let outcome = write_atomic(&t, b"one").unwrap();
    assert!(
        matches!(outcome, WriteOutcome::Restored(r) if r.mode_from == Some(0o644)),
        "{outcome:?}"
    );
    assert_eq!(mode_of(&t.path), 0o400);
    assert_eq!(write_atomic(&t, b"one").unwrap(), WriteOutcome::Unchanged);
}

#[test]
fn a_refresh_restores_only_the_file_sidekey_wrote_and_never_one_with_other_links() {
    let d = shm_dir();
    let t = target(d.path(), "f");
    let (_, mine) = write_known(&t, b"one").unwrap();
    // Someone puts another file in its place: a refresh does not touch it.
    std::fs::remove_file(&t.path).unwrap();
    std::fs::write(&t.path, b"theirs").unwrap();
    std::fs::set_permissions(&t.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(recheck(&t, Some(mine)).unwrap(), WriteOutcome::Unchanged);
    assert_eq!(recheck(&t, None).unwrap(), WriteOutcome::Unchanged);
    assert_eq!(mode_of(&t.path), 0o644);
    // Its own file, once hard-linked elsewhere, is not changed either (the other name may be anyone's).
    let (_, mine) = write_known(&t, b"two").unwrap();
    std::fs::set_permissions(&t.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::hard_link(&t.path, d.path().join("link")).unwrap();
    assert_eq!(recheck(&t, Some(mine)).unwrap(), WriteOutcome::Unchanged);
    assert_eq!(mode_of(&t.path), 0o644);
    std::fs::remove_file(d.path().join("link")).unwrap();
    assert!(matches!(
        recheck(&t, Some(mine)).unwrap(),
        WriteOutcome::Restored(_)
    ));
    assert_eq!(mode_of(&t.path), 0o400);
}

#[test]
fn only_foreign_writable_non_sticky_directories_are_refused() {
    let me = nix::unistd::geteuid().as_raw();
    let other = me.wrapping_add(4242);
    assert!(dir::foreign_writable(0o40777, other).is_some());
    assert!(
        dir::foreign_writable(0o40777, 0).is_none(),
        "kubelet's emptyDir"
    );
    assert!(
        dir::foreign_writable(0o41777, other).is_none(),
        "sticky, as /dev/shm"
    );
    assert!(
        dir::foreign_writable(0o40775, other).is_some_and(|w| w.contains("its group")),
        "group-writable, someone else's"
    );
    assert!(
        dir::foreign_writable(0o40755, other).is_none(),
        "an app's own directory"
    );
    assert!(dir::foreign_writable(0o40775, 0).is_none());
    assert!(dir::foreign_writable(0o40777, me).is_none());
}

#[test]
fn the_temporary_file_is_private_whatever_the_final_mode() {
    let d = shm_dir();
    let dir = dir::open(d.path(), None).unwrap();
    let (name, _fd) = create_temp(&dir).unwrap();
    assert_eq!(mode_of(&d.path().join(&name)), 0o600);
    assert!(name.len() > 32, "an unguessable name: {name}");
}

#[test]
fn a_destination_name_near_the_length_limit_still_gets_written() {
    let d = shm_dir();
    let t = target(d.path(), &"n".repeat(250));
    assert_eq!(write_atomic(&t, b"long").unwrap(), WriteOutcome::Written);
    assert_eq!(std::fs::read(&t.path).unwrap(), b"long");
}
