//! `sidekey audit verify FILE --anchors -c agent.hcl`: read every anchor of the config's
//! `audit { anchor { path } }` from the backend the config names (its `vault` stanza; `BAO_ADDR` /
//! `VAULT_ADDR` and the CA variables override it as for `run`), and compare the trail with them.
//!
//! Who reads: the auditor, with `BAO_TOKEN` / `VAULT_TOKEN` when set; otherwise the config's auto-auth
//! logs in as the agent would (its policy then needs read on the anchor secret, which the one in
//! docs/audit-events.md does not give it).

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::{BROKEN, OK, hasher, trail_files, trail_name};
use crate::audit::anchor::{self, AnchorHistory, Checked};
use crate::auth::{AuthError, Authenticator, ambient_token};
use crate::backend::observe::Bearer;
use crate::backend::{BackendError, Client};
use crate::config::Config;
use crate::runtime::{EnvSource, ExitCode};

/// The anchors cannot be read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    /// The runtime for the requests did not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// The backend client could not be set up from the config.
    #[error(transparent)]
    Client(BackendError),
    /// No `BAO_TOKEN` and no auto-auth.
    #[error(
        "no token to read the anchors with: set BAO_TOKEN (or VAULT_TOKEN) to an auditor's token, or give a config with auto_auth"
    )]
    NoToken,
    /// The token could not be had.
    #[error(transparent)]
    Token(AuthError),
    /// The token may not read the anchors.
    #[error(
        "{0}\nsidekey: the token needs read on the anchor secret's data/ and metadata/ paths: set BAO_TOKEN to an auditor's token (see \"Anchors\" in docs/audit-events.md)"
    )]
    Forbidden(anchor::AnchorError),
    /// Reading failed otherwise.
    #[error(transparent)]
    Anchor(anchor::AnchorError),
}

/// Verify the trail of `files` against the anchors of `cfg`: 0 when they agree, 1 naming the first
/// interval between two anchors in which they do not (or a deleted anchor); 69 when the anchors cannot
/// be read, 78 when the config has no anchor. The HMAC key is `key`, else the config's `hmac_key_file`.
pub fn verify_anchored(
    files: &[PathBuf],
    key: Option<&Path>,
    allow_continuation: bool,
    cfg: &Config,
    env: &dyn EnvSource,
) -> i32 {
    let Some(anchor) = &cfg.audit.anchor else {
        eprintln!(
            "sidekey: the config has no audit {{ anchor {{ path = \"...\" }} }}: no anchors to verify against"
        );
        return ExitCode::Config.code();
    };
    let h = match hasher(key.or(cfg.audit.hmac_key_file.as_deref())) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let history = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(read(cfg, env, &anchor.path)),
        Err(e) => Err(ReadError::Runtime(e)),
    };
    let history = match history {
        Ok(h) => h,
        Err(e) => {
            eprintln!("sidekey: {e}");
            return ExitCode::Unavailable.code();
        }
    };
    let files = trail_files(files);
    let checked = anchor::check(&history, &files, &h, allow_continuation);
    report(&files, &history, &checked)
}

/// Print what `check` found; the exit code.
fn report(files: &[PathBuf], history: &AnchorHistory, c: &Checked) -> i32 {
    let data = history
        .paths
        .as_ref()
        .map(|p| p.data.as_str())
        .unwrap_or_default();
    for n in &c.notes {
        eprintln!("sidekey: note: {n}");
    }
    for p in &c.problems {
        eprintln!("sidekey: {data}: {p}");
    }
    if let Some(d) = &c.disagreement {
        eprintln!(
            "sidekey: {}: the trail and the anchors in {data} disagree {d}",
            trail_name(files)
        );
    }
    if !c.ok() {
        return BROKEN;
    }
    let chain = match &c.chain {
        Ok(v) => super::intact(v),
        Err(e) => e.to_string(),
    };
    let anchored = match &c.last_good {
        Some((r, place)) => format!(
            "{} anchor{} in {data} agree; the newest, {r}, covers {place}",
            c.agreeing,
            if c.agreeing == 1 { "" } else { "s" }
        ),
        None => format!("no anchor in {data} yet"),
    };
    eprintln!("sidekey: {}: {chain}; {anchored}", trail_name(files));
    OK
}

/// Every anchor of `path`, read as the auditor (or the agent's auto-auth).
async fn read(cfg: &Config, env: &dyn EnvSource, path: &str) -> Result<AnchorHistory, ReadError> {
    let client = Client::for_config(cfg).map_err(ReadError::Client)?;
    let token = token(cfg, env, &client).await?;
    anchor::read_all(&client, Bearer::new(&token, ""), path)
        .await
        .map_err(|e| match &e {
            anchor::AnchorError::Backend {
                source: BackendError::Status { status: 403, .. },
                ..
            } => ReadError::Forbidden(e),
            _ => ReadError::Anchor(e),
        })
}

/// The auditor's token from `BAO_TOKEN`/`VAULT_TOKEN`, else a login with the config's auto-auth.
async fn token(
    cfg: &Config,
    env: &dyn EnvSource,
    client: &Client,
) -> Result<SecretString, ReadError> {
    let given = ["BAO_TOKEN", "VAULT_TOKEN"]
        .iter()
        .any(|v| env.var(v).is_some_and(|t| !t.trim().is_empty()));
    if given {
        return ambient_token(client, env)
            .await
            .map(|t| t.secret)
            .map_err(ReadError::Token);
    }
    let Some(aa) = &cfg.auto_auth else {
        return Err(ReadError::NoToken);
    };
    Authenticator::new(aa.method.clone(), cfg.vault.clone(), client.clone())
        .login()
        .await
        .map(|t| t.secret)
        .map_err(ReadError::Token)
}
