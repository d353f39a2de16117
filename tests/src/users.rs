//! Local users a test creates to run callers as (`skt-<something>`), removed with `userdel -r` when the
//! guard drops, also when the test fails.

use std::process::Command;

/// A system user made for one test; deleted on drop.
#[derive(Debug)]
pub struct TestUser {
    /// The user (and its group's) name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
}

impl TestUser {
    /// Create `name` (a system user with its own group and no login shell), first removing one left by a
    /// run that was killed before its guard dropped.
    pub fn create(name: &str) -> TestUser {
        assert!(
            name.starts_with("skt-"),
            "test users are named skt-*: {name}"
        );
        if nix::unistd::User::from_name(name).ok().flatten().is_some() {
            userdel(name);
        }
        let status = Command::new("useradd")
            .args(["--system", "--user-group", "--no-create-home"])
            .args(["--shell", "/usr/sbin/nologin", name])
            .status()
            .unwrap_or_else(|e| panic!("useradd {name}: {e}"));
        assert!(status.success(), "useradd {name}: {status}");
        let user = nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("{name} was created but cannot be looked up"));
        TestUser {
            name: name.to_string(),
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        }
    }

    /// `program ARGS` to run as this user (`runuser -u NAME --`).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", &self.name, "--", program]);
        cmd
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        userdel(&self.name);
    }
}

fn userdel(name: &str) {
    // `-r` also removes a mail spool or home a distribution's defaults made; a missing one is no error.
    let _ = Command::new("userdel").args(["-r", name]).output();
}
