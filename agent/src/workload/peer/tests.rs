//! Attestation against the real kernel: callers are real processes, run as users the tests create, moved
//! into cgroups the tests make in the machine's writable cgroup2 tree (skipped, with a message, where the
//! tests are not root or there is no such tree).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use nix::unistd::{AccessFlags, access, getegid, geteuid, getpid};

use super::*;
use crate::config::{CallerMatch, WorkloadConfig};
use crate::workload::select::Selector;

/// The writable cgroup2 tree (the hybrid layout's `unified` mount).
const UNIFIED: &str = "/sys/fs/cgroup/unified";
/// The system's python, readable by every user (a user's pyenv shim would not be).
const PYTHON: &str = "/usr/bin/python3";
/// The caller: waits for a line, connects, says so, waits for another line, exits.
const CALLER: &str = "import socket, sys\n\
                      sys.stdin.readline()\n\
                      s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n\
                      s.connect(sys.argv[1])\n\
                      print('connected', flush=True)\n\
                      sys.stdin.readline()\n";

// === pure ===

#[test]
fn the_start_time_is_field_22_whatever_the_command_name() {
    let rest = "S 1 1 0 0 -1 4194304 98 0 0 0 0 0 0 0 20 0 1 0 5098941 3133440 380";
    assert_eq!(
        parse_start_ticks(&format!("4186 (cat) {rest}")),
        Some(5_098_941)
    );
    assert_eq!(
        parse_start_ticks(&format!("4186 (a) b) (c) {rest}")),
        Some(5_098_941)
    );
    assert_eq!(parse_start_ticks("4186 (cat) S 1 1"), None);
    assert_eq!(parse_start_ticks(""), None);
}

// === this process, over a socket pair (no privilege needed) ===

#[test]
fn a_socket_pair_attests_this_process() {
    let (ours, _theirs) = UnixStream::pair().unwrap();
    for peer_pidfd in [true, false] {
        let c = attest_with(ours.as_fd(), |_| true, peer_pidfd).unwrap();
        assert_eq!(c.pid, getpid().as_raw());
        assert_eq!((c.uid, c.gid), (geteuid().as_raw(), getegid().as_raw()));
        let exe = std::env::current_exe().unwrap();
        assert_eq!(c.exe.as_deref(), Some(exe.as_path()));
        assert_eq!(c.sha256, Some(sha256_of(&exe).unwrap()));
        let own = fs::read_to_string("/proc/self/cgroup").unwrap();
        assert_eq!(c.cgroup.as_deref(), cgroup::path_of(&own));
    }
}

#[test]
fn the_executable_is_hashed_only_when_asked() {
    let (ours, _theirs) = UnixStream::pair().unwrap();
    assert_eq!(attest(ours.as_fd(), |_| false).unwrap().sha256, None);
}

#[test]
fn a_file_is_not_a_caller() {
    let file = File::open("/proc/self/stat").unwrap();
    let err = attest(file.as_fd(), |_| false).unwrap_err();
    assert!(
        matches!(err, AttestError::NoCredentials(Errno::ENOTSOCK)),
        "{err:?}"
    );
}

// === hashing executables ===

/// The files `h` read and hashed so far.
fn reads(h: &Hashes) -> usize {
    h.read.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn an_executable_is_hashed_once_until_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exe");
    fs::write(&path, b"first").unwrap();
    let h = Hashes::new(1024, 2, Duration::ZERO);
    let now = SystemTime::now;
    let first = h.sha256(&path, now()).unwrap();
    assert_eq!(first, sha256_of(&path).unwrap());
    assert_eq!(h.sha256(&path, now()).unwrap(), first);
    assert_eq!(
        reads(&h),
        1,
        "the second connection is answered from the kept hash"
    );

    // Same size, modification time set back: the change time tells.
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    fs::write(&path, b"other").unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let second = h.sha256(&path, now()).unwrap();
    assert_ne!(second, first);
    assert_eq!(second, sha256_of(&path).unwrap());
    assert_eq!(reads(&h), 2);

    // At most `most` kept.
    for i in 0..5 {
        let p = dir.path().join(format!("exe{i}"));
        fs::write(&p, format!("{i}")).unwrap();
        h.sha256(&p, now()).unwrap();
    }
    assert!(h.kept().len() <= 2);
}

#[test]
fn a_file_changed_just_now_is_hashed_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exe");
    fs::write(&path, b"fresh").unwrap();
    let h = Hashes::new(1024, 8, Duration::from_secs(3600));
    h.sha256(&path, SystemTime::now()).unwrap();
    h.sha256(&path, SystemTime::now()).unwrap();
    assert_eq!(reads(&h), 2, "not kept while its change time is recent");
    assert!(h.kept().is_empty());
}

#[test]
fn a_file_over_the_limit_is_not_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    // Sparse: big to the file system, nothing on disk.
    File::create(&path).unwrap().set_len(4096).unwrap();
    let h = Hashes::new(1024, 8, Duration::ZERO);
    let err = h.sha256(&path, SystemTime::now()).unwrap_err();
    assert!(
        matches!(
            err,
            HashError::TooBig {
                size: 4096,
                limit: 1024
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("no sha256 matches it"), "{err}");
    assert_eq!(reads(&h), 0, "refused before a byte is read");
    assert!(matches!(
        h.sha256(&dir.path().join("none"), SystemTime::now()),
        Err(HashError::Io(_))
    ));
}

#[test]
fn a_caller_not_hashed_is_refused_saying_why() {
    let w = workload(
        "pinned",
        CallerMatch {
            sha256: Some("ab".repeat(32)),
            ..CallerMatch::default()
        },
    );
    let selector = Selector::new(&[w]).unwrap();
    let caller = Caller {
        pid: 9,
        sha256_unread: Some(
            HashError::TooBig {
                size: 2 << 30,
                limit: HASH_LIMIT,
            }
            .to_string(),
        ),
        ..Caller::default()
    };
    let why = selector.select(&caller).unwrap_err().to_string();
    assert!(
        why.contains("no sha256: the executable is 2147483648 bytes"),
        "{why}"
    );
}

// === callers in cgroups, as other users ===

#[test]
fn a_service_caller_is_attested_with_its_unit_user_and_executable() {
    let Some(cgroups) = Cgroups::new("svc") else {
        return;
    };
    let user = TestUser::new("skt-b1");
    let door = Door::new();
    let peer = Peer::connected(&door, &cgroups, "system.slice/app-a.service", Some(&user));

    let conn = door.accept();
    let caller = attest(conn.as_fd(), |_| true).unwrap();
    let python = fs::canonicalize(PYTHON).unwrap();
    assert_eq!(caller.pid, peer.pid());
    assert_eq!((caller.uid, caller.gid), (user.uid, user.gid));
    assert_eq!(caller.unit.as_deref(), Some("app-a.service"));
    assert_eq!(
        caller.cgroup,
        Some(cgroups.path("system.slice/app-a.service"))
    );
    assert_eq!(
        (caller.container_id.as_deref(), caller.pod_uid.as_deref()),
        (None, None)
    );
    assert_eq!(caller.exe.as_deref(), Some(python.as_path()));
    assert_eq!(caller.sha256, Some(sha256_of(&python).unwrap()));

    // What a config would say about it selects it, by unit and by user name looked up now.
    let selector = Selector::new(&[
        workload(
            "other",
            CallerMatch {
                uid: Some(0),
                ..CallerMatch::default()
            },
        ),
        workload(
            "app-a",
            CallerMatch {
                user: Some("skt-b1".into()),
                unit: Some("app-a.service".into()),
                ..CallerMatch::default()
            },
        ),
    ])
    .unwrap();
    assert_eq!(selector.select(&caller).unwrap().name, "app-a");
}

#[test]
fn a_container_caller_is_attested_with_its_container_and_pod() {
    let Some(cgroups) = Cgroups::new("pod") else {
        return;
    };
    let pod = "5f0c2a4e-1b2d-4c3e-8f9a-0b1c2d3e4f5a";
    let id = "c0ffee".repeat(10) + "beef";
    let scope = format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{id}.scope",
        pod.replace('-', "_")
    );
    let door = Door::new();
    let peer = Peer::connected(&door, &cgroups, &scope, None);

    let caller = attest(door.accept().as_fd(), |_| false).unwrap();
    assert_eq!(caller.pid, peer.pid());
    assert_eq!(caller.uid, 0);
    assert_eq!(caller.container_id.as_deref(), Some(id.as_str()));
    assert_eq!(caller.pod_uid.as_deref(), Some(pod));
    assert_eq!(caller.unit, None);
    assert_eq!(caller.cgroup, Some(cgroups.path(&scope)));
    assert_eq!(caller.sha256, None);
}

#[test]
fn a_caller_that_left_is_refused() {
    let Some(cgroups) = Cgroups::new("left") else {
        return;
    };
    let door = Door::new();
    for peer_pidfd in [true, false] {
        let mut peer = Peer::connected(&door, &cgroups, "system.slice/app-a.service", None);
        let pid = peer.exit();

        let err = attest_with(door.accept().as_fd(), |_| false, peer_pidfd).unwrap_err();
        assert!(
            matches!(err, AttestError::Departed { pid: p, uid: 0 } if p == pid),
            "{err:?}"
        );
        assert!(err.to_string().contains(&format!("pid {pid}")), "{err}");
    }
}

#[test]
fn a_process_that_takes_a_departed_callers_pid_is_not_taken_for_it() {
    let Some(cgroups) = Cgroups::new("reuse") else {
        return;
    };
    let door = Door::new();
    let mut peer = Peer::connected(&door, &cgroups, "system.slice/app-a.service", None);
    let conn = door.accept();
    let pid = peer.exit();

    // Another process gets the number: the next pid the kernel hands out is set to it (other
    // processes on the machine may take it first: try again).
    let _imposter = (0..100)
        .find_map(|_| {
            fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
            let mut child = Command::new("sleep").arg("30").spawn().unwrap();
            if child.id() == pid.unsigned_abs() {
                return Some(Reaped(child));
            }
            child.kill().unwrap();
            child.wait().unwrap();
            None
        })
        .expect("no process could be started on the departed caller's pid");
    cgroups.enter("system.slice/app-b.service", pid);
    let imposter_cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        imposter_cgroup.contains("app-b.service"),
        "{imposter_cgroup}"
    );

    let err = attest(conn.as_fd(), |_| false).unwrap_err();
    assert!(
        matches!(err, AttestError::Departed { pid: p, .. } if p == pid),
        "{err:?}"
    );
}

// === helpers ===

/// Whether real-kernel tests can run: root, the writable cgroup2 tree, the system's python.
fn kernel_ready() -> bool {
    geteuid().is_root() && access(UNIFIED, AccessFlags::W_OK).is_ok() && Path::new(PYTHON).exists()
}

fn workload(name: &str, matcher: CallerMatch) -> WorkloadConfig {
    WorkloadConfig {
        name: name.into(),
        matcher,
        policies: Vec::new(),
        token_role: None,
        auto_auth: None,
        credentials: Vec::new(),
        origin: crate::config::Origin::default(),
    }
}

/// A private directory of the cgroup2 tree for one test (tests run at once, so each has its own),
/// removed with everything below it when dropped.
struct Cgroups {
    root: PathBuf,
}

impl Cgroups {
    /// The test's cgroups, or none (the test is skipped, saying why) where the kernel tests cannot run.
    fn new(test: &str) -> Option<Self> {
        if !kernel_ready() {
            eprintln!("skipping the {test} test: needs root, a writable {UNIFIED} and {PYTHON}");
            return None;
        }
        let root = Path::new(UNIFIED).join(format!("skt-b-{}-{test}", getpid()));
        remove_cgroup(&root);
        fs::create_dir(&root).unwrap();
        Some(Self { root })
    }

    /// Move `pid` into the cgroup `rel` (made if need be).
    fn enter(&self, rel: &str, pid: i32) {
        let dir = self.root.join(rel);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("cgroup.procs"), pid.to_string()).unwrap();
    }

    /// `rel`'s path as `/proc/<pid>/cgroup` shows it.
    fn path(&self, rel: &str) -> String {
        format!(
            "/{}",
            self.root.strip_prefix(UNIFIED).unwrap().join(rel).display()
        )
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        remove_cgroup(&self.root);
    }
}

/// Remove a cgroup and those below it, moving any process still in them to the root first.
fn remove_cgroup(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup(&entry.path());
        }
    }
    if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
        for pid in procs.lines() {
            let _ = fs::write(Path::new(UNIFIED).join("cgroup.procs"), pid);
        }
    }
    let _ = fs::remove_dir(dir);
}

/// A user created for a test, deleted when dropped.
struct TestUser {
    name: &'static str,
    uid: u32,
    gid: u32,
}

impl TestUser {
    fn new(name: &'static str) -> Self {
        // A user left by an interrupted run.
        let _ = Command::new("userdel").args(["-r", name]).output();
        let made = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/usr/sbin/nologin", name])
            .status()
            .unwrap();
        assert!(made.success(), "useradd {name}");
        let user = nix::unistd::User::from_name(name).unwrap().unwrap();
        Self {
            name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").args(["-r", self.name]).output();
    }
}

/// The listening socket callers connect to, in a directory every user may reach.
struct Door {
    _dir: tempfile::TempDir,
    path: PathBuf,
    listener: UnixListener,
}

impl Door {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("api.sock");
        let listener = UnixListener::bind(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        Self {
            _dir: dir,
            path,
            listener,
        }
    }

    /// The connection a caller already made (it said so), so this does not block.
    fn accept(&self) -> UnixStream {
        self.listener.accept().unwrap().0
    }
}

/// A caller process, killed and reaped when dropped.
struct Peer {
    child: Reaped,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    /// A caller (as `user`, else root) moved into the cgroup `rel`, then connected to `door`.
    fn connected(door: &Door, cgroups: &Cgroups, rel: &str, user: Option<&TestUser>) -> Self {
        let mut cmd = Command::new(PYTHON);
        cmd.args(["-I", "-c", CALLER])
            .arg(&door.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if let Some(user) = user {
            cmd.uid(user.uid).gid(user.gid);
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut peer = Self {
            child: Reaped(child),
            stdin,
            stdout,
        };
        cgroups.enter(rel, peer.pid());
        peer.connect();
        peer
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.0.id()).unwrap()
    }

    /// Let the caller connect, and wait until it has (so the connection waits to be accepted).
    fn connect(&mut self) {
        writeln!(self.stdin).unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert_eq!(line, "connected\n", "the caller did not connect");
    }

    /// Let the caller exit, and reap it: its pid is free for the kernel to hand out again.
    fn exit(&mut self) -> i32 {
        let pid = self.pid();
        writeln!(self.stdin).unwrap();
        assert!(self.child.0.wait().unwrap().success());
        pid
    }
}

/// A child process killed (by its pid) and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
