//! Validation: one file's raw tree → typed stanzas (a [`Partial`] config), every value checked, plus
//! warnings for what loads without effect (`unserved`). Merging the files' partials is
//! [`super::load()`]'s job.

mod audit;
mod auto_auth;
mod cache;
mod exec;
pub(super) mod keys;
pub(super) mod listener;
pub(super) mod logging;
pub(super) mod persist;
pub(super) mod template;
mod unserved;
pub(super) mod workload;

use std::path::PathBuf;

use super::field::Field;
use super::node::{Node, Problem};
use super::section::{Labels, Notes, Section};
use super::types::{
    AdminListener, ApiListener, AuditConfig, AutoAuthConfig, AutoAuthToken, CacheConfig,
    CredentialListener, EnvTemplateConfig, ExecConfig, LeaseCheck, LogFormat, Parts, PersistConfig,
    TemplateConfig, TemplateGlobalConfig, VaultConfig, WorkloadConfig,
};

/// A value and the line it was given on.
pub(crate) type Located<T> = (T, usize);

/// What one file sets. Single stanzas are `Option`s so that merging can tell "given twice" apart.
#[derive(Default)]
pub(crate) struct Partial {
    pub vault: Option<Located<VaultConfig>>,
    pub auto_auth: Option<Located<AutoAuthConfig>>,
    pub templates: Vec<Located<TemplateConfig>>,
    pub env_templates: Vec<Located<EnvTemplateConfig>>,
    pub exec: Option<Located<ExecConfig>>,
    pub template_config: Option<Located<TemplateGlobalConfig>>,
    pub exit_after_auth: Option<Located<bool>>,
    pub pid_file: Option<Located<PathBuf>>,
    pub disable_mlock: Option<Located<bool>>,
    pub reload_on_config_change: Option<Located<bool>>,
    /// `lease_check_interval`.
    pub lease_check_interval: Option<Located<LeaseCheck>>,
    pub audit: Option<Located<AuditConfig>>,
    pub lease_state_file: Option<Located<PathBuf>>,
    /// `lease_state_key_file`: the key that encrypts `lease_state_file`.
    pub lease_state_key_file: Option<Located<PathBuf>>,
    /// `cache { persist ... }`: the state file (its origins without the file name, added when merged).
    pub persist: Option<Located<PersistConfig>>,
    pub admin_listener: Option<Located<AdminListener>>,
    /// `listener "tcp"` / `"unix"` (their origins' files filled in by the merge).
    pub listeners: Vec<ApiListener>,
    /// `listener "credentials"` (its origin's file filled in by the merge).
    pub credential_listener: Option<Located<CredentialListener>>,
    /// `workload "NAME"` stanzas, in file order (their origins' files filled in by the merge).
    pub workloads: Vec<WorkloadConfig>,
    /// `api_proxy`.
    pub api_proxy: Option<Located<listener::ApiProxyStanza>>,
    /// `cache { use_auto_auth_token }`.
    pub cache_token: Option<Located<AutoAuthToken>>,
    pub cache: Option<Located<CacheConfig>>,
    pub log_level: Option<Located<String>>,
    pub log_format: Option<Located<LogFormat>>,
    /// `log_file` and `log_rotate_*`.
    pub log: logging::LogKeys,
    /// `disable_idle_connections`.
    pub disable_idle_connections: Option<Located<Parts>>,
    /// `disable_keep_alives`.
    pub disable_keep_alives: Option<Located<Parts>>,
    /// What loaded without effect (see `unserved`, and the misplaced keys of `keys`), in file order.
    pub warnings: Vec<Problem>,
    /// `cache` / `api_proxy` `use_auto_auth_token` keys that ask for the auto-auth token.
    pub auto_auth_token_users: Vec<Located<&'static str>>,
}

/// Validate one file's tree.
pub(crate) fn file(root: &Node) -> Result<Partial, Problem> {
    let notes = Notes::default();
    let mut partial = stanzas(root, &notes)?;
    partial.warnings.extend(notes.into_inner());
    partial.warnings.sort_by_key(|w| w.line);
    Ok(partial)
}

/// Every stanza of one file; `notes` collects the misplaced keys the sections found.
fn stanzas<'a>(root: &'a Node, notes: &'a Notes) -> Result<Partial, Problem> {
    let mut s = Section::root(root, notes).map_err(|_| {
        Problem::new(
            root.line,
            "the config must be a set of blocks (an object in JSON)",
        )
    })?;
    s.check_keys(keys::TOP_KEYS, &[])?;
    let mut warnings = Vec::new();
    let mut auto_auth_token_users = Vec::new();
    let mut persist = None;
    let mut cache_token = None;
    unserved::top(&mut s, &mut warnings)?;
    let api_proxy = located(&mut s, "api_proxy", |mut b| {
        let token = unserved::auto_auth_token_user(
            &mut b,
            "api_proxy.use_auto_auth_token",
            &mut auto_auth_token_users,
        )?;
        listener::api_proxy(b, token)
    })?;
    let cache = located(&mut s, "cache", |b| {
        cache::cache(
            b,
            &mut warnings,
            &mut auto_auth_token_users,
            &mut persist,
            &mut cache_token,
        )
    })?;
    let listeners = listener::listeners(&mut s, &mut warnings)?;
    let (lease_state_file, lease_state_key_file) = persist::lease_state_keys(&mut s)?;
    let vault = server(&mut s, &mut warnings)?;
    let auto_auth = located(&mut s, "auto_auth", |b| {
        auto_auth::auto_auth(b, &mut warnings)
    })?;
    let mut templates = Vec::new();
    for block in s.blocks("template", Labels::None)? {
        templates.push((
            template::template(block.section, &mut warnings)?,
            block.line,
        ));
    }
    let mut env_templates = Vec::new();
    for block in s.blocks("env_template", Labels::Required)? {
        let name = block.label.unwrap_or_default();
        env_templates.push((
            template::env_template(name, block.line, block.section)?,
            block.line,
        ));
    }
    let mut workloads = Vec::new();
    for block in s.blocks("workload", Labels::Required)? {
        let (w, files) = workload::workload(block, &mut warnings)?;
        templates.extend(files);
        workloads.push(w);
    }
    let out = Partial {
        vault,
        auto_auth,
        templates,
        env_templates,
        exec: located(&mut s, "exec", exec::exec)?,
        template_config: located(&mut s, "template_config", template_config)?,
        audit: located(&mut s, "audit", audit::audit)?,
        exit_after_auth: field(&mut s, "exit_after_auth", Field::bool)?,
        pid_file: field(&mut s, "pid_file", Field::path_buf)?,
        disable_mlock: field(&mut s, "disable_mlock", Field::bool)?,
        reload_on_config_change: field(&mut s, "reload_on_config_change", Field::bool)?,
        lease_check_interval: field(&mut s, "lease_check_interval", lease_check)?,
        lease_state_file,
        lease_state_key_file,
        persist,
        admin_listener: listeners.admin,
        listeners: listeners.api,
        credential_listener: listeners.credentials,
        workloads,
        api_proxy,
        cache_token,
        cache,
        log_level: field(&mut s, "log_level", audit::log_level)?,
        log_format: field(&mut s, "log_format", audit::log_format)?,
        log: logging::log_keys(&mut s)?,
        disable_idle_connections: logging::parts(
            &mut s,
            "disable_idle_connections",
            &mut warnings,
        )?,
        disable_keep_alives: logging::parts(&mut s, "disable_keep_alives", &mut warnings)?,
        warnings,
        auto_auth_token_users,
    };
    s.finish(&[])?;
    Ok(out)
}

/// The block `key` read by `read`, with its line.
fn located<T>(
    s: &mut Section<'_>,
    key: &'static str,
    read: impl FnOnce(Section<'_>) -> Result<T, Problem>,
) -> Result<Option<Located<T>>, Problem> {
    match s.block(key)? {
        Some(block) => {
            let line = block.line();
            Ok(Some((read(block)?, line)))
        }
        None => Ok(None),
    }
}

/// The attribute `key` read by `get`, with its line.
fn field<'a, T>(
    s: &mut Section<'a>,
    key: &'static str,
    get: impl FnOnce(&Field<'a>) -> Result<T, Problem>,
) -> Result<Option<Located<T>>, Problem> {
    match s.field(key)? {
        Some(f) => Ok(Some((get(&f)?, f.line))),
        None => Ok(None),
    }
}

/// `lease_check_interval`: a duration of a second or more, or `0` to turn the check off. Shorter periods
/// would only add load on the server: a revocation is an incident, and seconds do not matter for it.
fn lease_check(f: &Field<'_>) -> Result<LeaseCheck, Problem> {
    let d = f.duration()?;
    if d.is_zero() {
        return Ok(LeaseCheck(None));
    }
    if d < std::time::Duration::from_secs(1) {
        return Err(f.problem(format!(
            "{d:?} is shorter than 1s; give 1s or more, or 0 to turn the check off"
        )));
    }
    Ok(LeaseCheck(Some(d)))
}

// === vault ===

/// The `vault` stanza, or `openbao`, which the OpenBao injector (openbao-k8s) writes in its place: read
/// as `vault` with a warning, since `bao agent` itself skips the unknown key.
fn server(
    s: &mut Section<'_>,
    warnings: &mut Vec<Problem>,
) -> Result<Option<Located<VaultConfig>>, Problem> {
    let given = located(s, "vault", vault)?;
    let openbao = located(s, "openbao", vault)?;
    match (given, openbao) {
        (Some(_), Some((_, line))) => Err(Problem::new(
            line,
            "openbao: give the server's settings once, in `vault` (`openbao` is read as its alias)",
        )),
        (None, Some((config, line))) => {
            warnings.push(Problem::new(
                line,
                "openbao: read as the `vault` stanza (bao agent skips this key and uses BAO_ADDR or its default address)",
            ));
            Ok(Some((config, line)))
        }
        (given, None) => Ok(given),
    }
}

fn vault(mut s: Section<'_>) -> Result<VaultConfig, Problem> {
    let defaults = VaultConfig::default();
    let url = |f: &Field<'_>, address: &str| -> Result<String, Problem> {
        if !(address.starts_with("https://") || address.starts_with("http://")) {
            return Err(f.problem(format!("{address:?} is not an http:// or https:// URL")));
        }
        Ok(address.trim_end_matches('/').to_string())
    };
    let given = match s.field("address")? {
        Some(f) => Some(url(&f, &f.non_empty()?)?),
        None => None,
    };
    // `addresses`: the cluster's other nodes (a sidekey key). With no `address`, its first entry is the
    // node tried first.
    let mut others = Vec::new();
    if let Some(f) = s.field("addresses")? {
        let list = f.strings()?;
        if list.is_empty() && given.is_none() {
            return Err(f.problem("give at least one address"));
        }
        for a in &list {
            others.push(url(&f, a)?);
        }
    }
    let address = match given {
        Some(a) => a,
        None if !others.is_empty() => others.remove(0),
        None => defaults.address,
    };
    let mut addresses: Vec<String> = Vec::new();
    for a in others {
        if crate::backend::same_node(&a, &address)
            || addresses.iter().any(|b| crate::backend::same_node(&a, b))
        {
            continue;
        }
        addresses.push(a);
    }
    let mut config = VaultConfig {
        address,
        addresses,
        ca_cert: s.get("ca_cert", Field::path_buf)?,
        ca_path: s.get("ca_path", Field::path_buf)?,
        client_cert: s.get("client_cert", Field::path_buf)?,
        client_key: s.get("client_key", Field::path_buf)?,
        tls_skip_verify: s.get("tls_skip_verify", Field::bool)?.unwrap_or(false),
        tls_server_name: s.get("tls_server_name", Field::string)?,
        namespace: s.get("namespace", Field::string)?,
        ..VaultConfig::default()
    };
    if let Some(mut retry) = s.block("retry")? {
        if let Some(n) = retry.get("num_retries", Field::signed)? {
            config.num_retries = VaultConfig::retries_from(n);
        }
        retry.finish(&[])?;
    }
    match (&config.client_cert, &config.client_key) {
        (Some(_), None) => {
            let path = s.key_path("client_key");
            return Err(Problem::new(
                s.line(),
                format!("{path}: required when client_cert is set"),
            ));
        }
        (None, Some(_)) => {
            let path = s.key_path("client_cert");
            return Err(Problem::new(
                s.line(),
                format!("{path}: required when client_key is set"),
            ));
        }
        _ => {}
    }
    s.finish(&[])?;
    Ok(config)
}

// === template_config ===

fn template_config(mut s: Section<'_>) -> Result<TemplateGlobalConfig, Problem> {
    let d = TemplateGlobalConfig::default();
    let interval = match s.field("static_secret_render_interval")? {
        Some(f) => {
            let d = f.duration()?;
            if d.is_zero() {
                return Err(f.problem("must be more than 0"));
            }
            d
        }
        None => d.static_secret_render_interval,
    };
    let max_connections = match s.field("max_connections_per_host")? {
        Some(f) => match usize::try_from(f.unsigned()?) {
            Ok(n) if n > 0 => n,
            _ => return Err(f.problem("must be a whole number of 1 or more")),
        },
        None => d.max_connections_per_host,
    };
    let threshold = match s.field("lease_renewal_threshold")? {
        Some(f) => {
            let t = f.float()?;
            if !(t > 0.0 && t < 1.0) {
                return Err(f.problem(format!(
                    "{t} is not a fraction between 0 and 1 (e.g. 0.66: renew after two thirds of the lease)"
                )));
            }
            t
        }
        None => d.lease_renewal_threshold,
    };
    let config = TemplateGlobalConfig {
        exit_on_retry_failure: s
            .get("exit_on_retry_failure", Field::bool)?
            .unwrap_or(false),
        static_secret_render_interval: interval,
        max_connections_per_host: max_connections,
        lease_renewal_threshold: threshold,
        revoke_on_shutdown: s.get("revoke_on_shutdown", Field::bool)?.unwrap_or(false),
        remove_on_exit: s.get("remove_on_exit", Field::bool)?.unwrap_or(false),
        revoke_old_after: s.get("revoke_old_after", Field::duration)?,
    };
    s.finish(&[])?;
    Ok(config)
}
