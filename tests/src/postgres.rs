//! A private PostgreSQL cluster in a temp dir, listening only on 127.0.0.1.
//!
//! `initdb` refuses to run as root, so `initdb` and `pg_ctl` run as the `postgres` OS user through
//! `runuser -u postgres --`; the temp dir is chowned to that user. The binaries come from
//! `/usr/lib/postgresql/*/bin` (highest version), else `PATH`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use nix::unistd::{Gid, Uid, User, chown};
use tempfile::TempDir;

use crate::bao::which;
use crate::ports;
use crate::process::run_with_timeout;

/// The OS user that owns and runs the cluster.
const OS_USER: &str = "postgres";

/// The cluster's superuser (the database connection OpenBao uses).
pub const SUPERUSER: &str = "postgres";

/// A running private cluster. Dropping it stops the server (`pg_ctl stop -m immediate`) and removes
/// the data directory.
#[derive(Debug)]
pub struct Postgres {
    dir: TempDir,
    port: u16,
    password: String,
}

fn bin_dir() -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(find_bin_dir)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn find_bin_dir() -> Result<PathBuf, String> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    if let Some((_, bin)) = dirs.pop() {
        return Ok(bin);
    }
    match (which("initdb"), which("pg_ctl")) {
        (Some(initdb), Some(_)) => Ok(initdb.parent().map(Path::to_path_buf).unwrap_or_default()),
        _ => Err("PostgreSQL not found: no /usr/lib/postgresql/*/bin/initdb and no initdb/pg_ctl in PATH \
                  (apt-get install postgresql)"
            .to_owned()),
    }
}

fn psql_bin() -> PathBuf {
    let local = bin_dir().join("psql");
    if local.is_file() {
        return local;
    }
    which("psql").unwrap_or_else(|| panic!("psql not found in {} nor PATH", bin_dir().display()))
}

/// Run a PostgreSQL tool as the `postgres` OS user from `cwd`; panics with its output on failure.
fn run_as_postgres(cwd: &Path, tool: &str, args: &[&str]) {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", OS_USER, "--"])
        .arg(bin_dir().join(tool))
        .args(args)
        .current_dir(cwd)
        .env("LC_ALL", "C");
    let out = run_with_timeout(cmd, Duration::from_secs(60));
    if !out.status.success() {
        panic!(
            "{tool} {args:?} failed ({}):\n{}\n{}",
            out.status, out.stdout, out.stderr
        );
    }
}

impl Postgres {
    /// `initdb` a fresh cluster with a random superuser password and start it on a free port.
    pub fn start() -> Postgres {
        let user = User::from_name(OS_USER)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no `{OS_USER}` OS user (apt-get install postgresql)"));
        let dir = tempfile::Builder::new()
            .prefix("sidekey-pg-")
            .tempdir()
            .expect("create the PostgreSQL temp dir");
        chown_to(dir.path(), user.uid, user.gid);
        let password = crate::random_hex(16);
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, format!("{password}\n")).expect("write the password file");
        chown_to(&pwfile, user.uid, user.gid);
        let data = dir.path().join("data");
        let data_s = data.to_string_lossy().into_owned();
        run_as_postgres(
            dir.path(),
            "initdb",
            &[
                "-D",
                &data_s,
                "-U",
                SUPERUSER,
                &format!("--pwfile={}", pwfile.display()),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "--no-instructions",
                "-E",
                "UTF8",
            ],
        );
        let _ = std::fs::remove_file(&pwfile);
        let mut last = String::new();
        for _ in 0..3 {
            let port = ports::free_port();
            let conf = format!(
                "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{data_s}'\n\
                 fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            );
            let mut current = std::fs::read_to_string(data.join("postgresql.conf"))
                .expect("read postgresql.conf");
            current.push_str(&conf);
            // Appending in place keeps the file's owner (postgres).
            std::fs::write(data.join("postgresql.conf"), current).expect("write postgresql.conf");
            let log = dir
                .path()
                .join("postgres.log")
                .to_string_lossy()
                .into_owned();
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", OS_USER, "--"])
                .arg(bin_dir().join("pg_ctl"))
                .args(["-D", &data_s, "-l", &log, "-w", "-t", "30", "start"])
                .current_dir(dir.path())
                .stdout(Stdio::null());
            let out = run_with_timeout(cmd, Duration::from_secs(40));
            if out.status.success() {
                return Postgres {
                    dir,
                    port,
                    password,
                };
            }
            last = format!(
                "{}\n{}",
                out.stderr,
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("PostgreSQL did not start: {last}");
    }

    /// The listener port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's password.
    pub fn superuser_password(&self) -> &str {
        &self.password
    }

    /// The database plugin's `connection_url` template for OpenBao.
    pub fn vault_connection_url(&self) -> String {
        format!(
            "postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// Whether `user`/`password` can log in over TCP (the password goes in the child's env, never argv).
    pub fn can_login(&self, user: &str, password: &str) -> bool {
        let mut cmd = Command::new(psql_bin());
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", user])
            .args(["-d", "postgres", "-w", "-X", "-q", "-c", "select 1"])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "5")
            .env_remove("PGSERVICE")
            .env_remove("PGPASSFILE");
        run_with_timeout(cmd, Duration::from_secs(20))
            .status
            .success()
    }
}

fn chown_to(path: &Path, uid: Uid, gid: Gid) {
    chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {} to postgres: {e}", path.display()));
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", OS_USER, "--"])
            .arg(bin_dir().join("pg_ctl"))
            .args(["-D"])
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .current_dir(self.dir.path());
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = cmd.status();
    }
}
