//! `vault.hashicorp.com/*` pod annotations → [`InjectionSpec`], following vault-k8s's annotation reference
//! (docs "Agent Sidecar Injector Annotations", source `agent-inject/agent/annotations.go`): same names, same
//! defaults, same boolean syntax (Go's `strconv.ParseBool`), secret names lower-cased unless
//! `preserve-secret-case`.
//!
//! A malformed value is an [`AnnotationError`] naming the annotation (the pod is denied). An annotation that
//! vault-k8s knows but sidekey does not implement, or that nobody knows, becomes a warning in the spec: the
//! pod is still admitted, and the warning reaches the user through the AdmissionReview `warnings`.

use std::collections::{BTreeMap, BTreeSet};

use crate::spec::{
    AuthSpec, AuthType, DEFAULT_SECRET_VOLUME_PATH, DefaultTemplate, InjectionSpec, ResourceSpec,
    SecretSpec, VaultSpec,
};

/// The annotation prefix.
pub const PREFIX: &str = "vault.hashicorp.com/";
/// Set to `injected` after a mutation; a pod carrying it is left alone.
pub const STATUS: &str = "vault.hashicorp.com/agent-inject-status";

/// The same annotations as the OpenBao injector (openbao-k8s) spells them.
pub const OPENBAO_PREFIX: &str = "openbao.openbao.org/";
/// openbao-k8s's default `secret-volume-path`.
pub const OPENBAO_SECRET_VOLUME_PATH: &str = "/openbao/secrets";

/// A pod's annotations with openbao-k8s's `openbao.openbao.org/*` names read as their `vault.hashicorp.com/*`
/// twins (a name set both ways keeps the `vault.hashicorp.com/` value), and whether the pod used them: then
/// the secrets volume defaults to `/openbao/secrets`, and messages should name the annotations as the pod
/// does ([`openbao_names`]).
pub fn normalize(annotations: &BTreeMap<String, String>) -> (BTreeMap<String, String>, bool) {
    let mut out = annotations.clone();
    let mut openbao = false;
    for (k, v) in annotations {
        if let Some(rest) = k.strip_prefix(OPENBAO_PREFIX) {
            openbao = true;
            out.entry(format!("{PREFIX}{rest}"))
                .or_insert_with(|| v.clone());
            out.remove(k);
        }
    }
    if openbao {
        out.entry(format!("{PREFIX}secret-volume-path"))
            .or_insert_with(|| OPENBAO_SECRET_VOLUME_PATH.into());
    }
    (out, openbao)
}

/// `message` with annotation names spelled the openbao-k8s way.
pub fn openbao_names(message: &str) -> String {
    message.replace(PREFIX, OPENBAO_PREFIX)
}

/// Where a pod's service-account token is mounted (the agent's default `token_path`).
pub const SERVICE_ACCOUNT_TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Keys (after [`PREFIX`]) that vault-k8s defines and sidekey's injector does not implement.
const NOT_IMPLEMENTED: &[&str] = &[
    "agent-extra-secret",
    "agent-revoke-grace",
    "agent-run-as-same-user",
    "agent-set-security-context",
    "agent-share-process-namespace",
    "agent-copy-volume-mounts",
    "agent-cache-use-auto-auth-token",
    "agent-cache-listener-port",
    "agent-cache-exit-on-err",
    "agent-limits-ephemeral",
    "agent-requests-ephemeral",
    "agent-json-patch",
    "agent-init-json-patch",
    "agent-auto-auth-exit-on-err",
    "agent-enable-quit",
    "agent-disable-idle-connections",
    "agent-disable-keep-alives",
    "agent-auth-min-backoff",
    "agent-auth-max-backoff",
    "agent-image-pull-policy",
    "agent-request-namespace",
    "proxy-address",
    "tls-secret",
    "client-max-retries",
    "client-timeout",
    "log-level",
    "log-format",
    "template-config-max-connections-per-host",
];

/// Per-secret prefixes (after [`PREFIX`], with the trailing dash) that sidekey does not implement.
const NOT_IMPLEMENTED_PREFIXES: &[&str] = &["agent-inject-template-file-", "agent-telemetry-"];

/// A malformed annotation: the pod is denied with this message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{annotation}: {message}")]
pub struct AnnotationError {
    /// The full annotation name.
    pub annotation: String,
    /// What is wrong and what is expected.
    pub message: String,
}

/// The injector's own defaults (command-line flags), used where the pod sets nothing.
#[derive(Clone, Debug)]
pub struct Defaults {
    /// The server URL (`--vault-address`); `service` overrides it.
    pub vault_address: Option<String>,
    /// The auth mount path (`--auth-path`, vault-k8s default `auth/kubernetes`).
    pub auth_path: String,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            vault_address: None,
            auth_path: "auth/kubernetes".into(),
        }
    }
}

/// Whether the pod asks for injection: `agent-inject` true and not already `agent-inject-status: injected`.
///
/// # Errors
/// `agent-inject` is not a boolean.
pub fn should_inject(annotations: &BTreeMap<String, String>) -> Result<bool, AnnotationError> {
    if annotations.get(STATUS).map(String::as_str) == Some("injected") {
        return Ok(false);
    }
    Reader::new(annotations).bool("agent-inject", false)
}

/// Parse the annotations of a pod that asks for injection.
///
/// # Errors
/// The first malformed annotation, or a missing required one (`role`, a server address).
pub fn parse(
    annotations: &BTreeMap<String, String>,
    defaults: &Defaults,
) -> Result<InjectionSpec, AnnotationError> {
    let r = Reader::new(annotations);
    // Read by `should_inject`; read here too so it is not reported as unknown.
    let _ = r.get("agent-inject");
    let secret_volume_path = r
        .non_empty("secret-volume-path")
        .unwrap_or_else(|| DEFAULT_SECRET_VOLUME_PATH.into());
    let configmap = r.non_empty("agent-configmap");
    let vault = VaultSpec {
        address: match r.non_empty("service").or(defaults.vault_address.clone()) {
            Some(a) if a.starts_with("https://") || a.starts_with("http://") => a,
            Some(a) => {
                return Err(r.error(
                    "service",
                    format!("{a:?} is not an http:// or https:// URL"),
                ));
            }
            None if configmap.is_some() => String::new(),
            None => {
                return Err(r.error(
                    "service",
                    "required: the injector has no --vault-address; set the server URL",
                ));
            }
        },
        ca_cert: r.non_empty("ca-cert"),
        ca_path: r.non_empty("ca-key"),
        client_cert: r.non_empty("client-cert"),
        client_key: r.non_empty("client-key"),
        tls_skip_verify: r.bool("tls-skip-verify", false)?,
        tls_server_name: r.non_empty("tls-server-name"),
        namespace: r.non_empty("namespace"),
    };
    let auth = auth(&r, defaults, configmap.is_some())?;
    let default_template = match r.get("agent-inject-default-template") {
        None | Some("map") => DefaultTemplate::Map,
        Some("json") => DefaultTemplate::Json,
        Some(other) => {
            return Err(r.error(
                "agent-inject-default-template",
                format!("{other:?} is not \"map\" or \"json\""),
            ));
        }
    };
    let pre_populate = r.bool("agent-pre-populate", true)?;
    let pre_populate_only = r.bool("agent-pre-populate-only", false)?;
    if pre_populate_only && !pre_populate {
        return Err(r.error(
            "agent-pre-populate-only",
            "is true but agent-pre-populate is false: there would be no agent at all",
        ));
    }
    let cache = r.bool("agent-cache-enable", false)?;
    let mut spec = InjectionSpec {
        secrets: secrets(&r, &secret_volume_path)?,
        vault,
        auth,
        default_template,
        pre_populate,
        pre_populate_only,
        init_first: r.bool("agent-init-first", false)?,
        containers: r.get("agent-inject-containers").map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        }),
        image: r.non_empty("agent-image"),
        run_as_user: r.integer("agent-run-as-user", 100)?,
        run_as_group: r.integer("agent-run-as-group", 1000)?,
        resources: resources(&r)?,
        configmap,
        inject_token: r.bool("agent-inject-token", false)?,
        static_secret_render_interval: r.duration("template-static-secret-render-interval")?,
        exit_on_retry_failure: r.bool("template-config-exit-on-retry-failure", true)?,
        service_account_token_volume: r.non_empty("agent-service-account-token-volume-name"),
        revoke_on_shutdown: r.bool("agent-revoke-on-shutdown", false)?,
        secret_volume_path,
        warnings: Vec::new(),
    };
    if cache {
        spec.warnings.push(format!(
            "{PREFIX}agent-cache-enable: sidekey has no API proxy or response cache; ignored"
        ));
    }
    for (rest, _) in r.with_prefix("agent-inject-template-file-") {
        spec.warnings.push(format!(
            "{PREFIX}agent-inject-template-file-{rest}: not supported by sidekey's injector; ignored"
        ));
    }
    spec.warnings.extend(r.warnings());
    Ok(spec)
}

fn auth(r: &Reader<'_>, defaults: &Defaults, configmap: bool) -> Result<AuthSpec, AnnotationError> {
    let kind = match r.get("auth-type") {
        None | Some("kubernetes") => AuthType::Kubernetes,
        Some("jwt") => AuthType::Jwt,
        Some(other) => {
            return Err(r.error(
                "auth-type",
                format!("{other:?} is not supported by sidekey's injector (use \"kubernetes\" or \"jwt\")"),
            ));
        }
    };
    let mut config: BTreeMap<String, String> = r
        .with_prefix("auth-config-")
        .into_iter()
        .map(|(key, value)| (key.replace('-', "_"), value.to_string()))
        .collect();
    if let Some(role) = r.non_empty("role") {
        config.insert("role".into(), role);
    }
    if !configmap && !config.contains_key("role") {
        return Err(r.error("role", "required: the auth role the agent logs in with"));
    }
    if kind == AuthType::Jwt && !config.contains_key("path") {
        config.insert("path".into(), SERVICE_ACCOUNT_TOKEN_PATH.into());
    }
    Ok(AuthSpec {
        kind,
        mount_path: r
            .non_empty("auth-path")
            .unwrap_or_else(|| defaults.auth_path.clone()),
        config,
    })
}

fn secrets(r: &Reader<'_>, default_mount: &str) -> Result<Vec<SecretSpec>, AnnotationError> {
    let _ = r.get("preserve-secret-case");
    let mut raw_names = BTreeSet::new();
    for prefix in ["agent-inject-secret-", "agent-inject-template-"] {
        for (raw, value) in r.with_prefix(prefix) {
            let template_file = prefix == "agent-inject-template-" && raw.starts_with("file-");
            if !template_file && !raw.is_empty() && !value.trim().is_empty() {
                raw_names.insert(raw.to_string());
            }
        }
    }
    let mut out = Vec::new();
    for raw in raw_names {
        let per = |what: &str| format!("{what}-{raw}");
        let preserve = match r.get(&per("preserve-secret-case")) {
            Some(_) => r.bool(&per("preserve-secret-case"), false)?,
            None => r.bool("preserve-secret-case", false)?,
        };
        let perms = r.non_empty(&per("agent-inject-perms"));
        if let Some(p) = &perms
            && (p.len() > 4 || u32::from_str_radix(p, 8).is_err())
        {
            return Err(r.error(
                &per("agent-inject-perms"),
                format!("{p:?} is not an octal file mode such as \"0400\""),
            ));
        }
        out.push(SecretSpec {
            name: if preserve {
                raw.clone()
            } else {
                raw.to_lowercase()
            },
            path: r.get(&per("agent-inject-secret")).unwrap_or("").to_string(),
            template: r
                .get(&per("agent-inject-template"))
                .filter(|t| !t.trim().is_empty())
                .map(String::from),
            file: r.non_empty(&per("agent-inject-file")),
            perms,
            command: r.non_empty(&per("agent-inject-command")),
            error_on_missing_key: r.bool(&per("error-on-missing-key"), false)?,
            mount_path: r
                .non_empty(&per("secret-volume-path"))
                .unwrap_or_else(|| default_mount.to_string()),
        });
    }
    Ok(out)
}

fn resources(r: &Reader<'_>) -> Result<ResourceSpec, AnnotationError> {
    let d = ResourceSpec::default();
    Ok(ResourceSpec {
        limits_cpu: r.quantity("agent-limits-cpu", d.limits_cpu)?,
        limits_mem: r.quantity("agent-limits-mem", d.limits_mem)?,
        requests_cpu: r.quantity("agent-requests-cpu", d.requests_cpu)?,
        requests_mem: r.quantity("agent-requests-mem", d.requests_mem)?,
    })
}

// === impl Reader ===

/// Typed getters over the `vault.hashicorp.com/` annotations; remembers which keys were read so the rest
/// become warnings.
struct Reader<'a> {
    all: BTreeMap<&'a str, &'a str>,
    read: std::cell::RefCell<BTreeSet<String>>,
}

impl<'a> Reader<'a> {
    fn new(annotations: &'a BTreeMap<String, String>) -> Self {
        let all = annotations
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(PREFIX).map(|k| (k, v.as_str())))
            .collect();
        Self {
            all,
            read: Default::default(),
        }
    }

    fn error(&self, key: &str, message: impl Into<String>) -> AnnotationError {
        AnnotationError {
            annotation: format!("{PREFIX}{key}"),
            message: message.into(),
        }
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.read.borrow_mut().insert(key.to_string());
        self.all.get(key).copied()
    }

    /// Every `(rest, value)` of the keys starting with `prefix`, marked as read.
    fn with_prefix(&self, prefix: &str) -> Vec<(&'a str, &'a str)> {
        let mut read = self.read.borrow_mut();
        self.all
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(prefix)?;
                read.insert(k.to_string());
                Some((rest, *v))
            })
            .collect()
    }

    /// The value, `None` when absent or blank.
    fn non_empty(&self, key: &str) -> Option<String> {
        self.get(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
    }

    /// Go's `strconv.ParseBool` syntax.
    fn bool(&self, key: &str, default: bool) -> Result<bool, AnnotationError> {
        match self.get(key) {
            None => Ok(default),
            Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
            Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
            Some(other) => {
                Err(self.error(key, format!("{other:?} is not a boolean (true or false)")))
            }
        }
    }

    fn integer(&self, key: &str, default: i64) -> Result<i64, AnnotationError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| self.error(key, format!("{v:?} is not a user or group id"))),
        }
    }

    /// A Kubernetes quantity (`250m`, `64Mi`, `1.5`, `1e3`); empty means "none".
    fn quantity(&self, key: &str, default: String) -> Result<String, AnnotationError> {
        let Some(v) = self.get(key) else {
            return Ok(default);
        };
        let v = v.trim();
        let number_end = v
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
            .unwrap_or(v.len());
        let (number, suffix) = v.split_at(number_end);
        const SUFFIXES: &[&str] = &[
            "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
        ];
        let exponent = suffix.strip_prefix(['e', 'E']).is_some_and(|e| {
            !e.is_empty()
                && e.trim_start_matches(['+', '-'])
                    .chars()
                    .all(|c| c.is_ascii_digit())
        });
        if v.is_empty()
            || (number.parse::<f64>().is_ok() && (SUFFIXES.contains(&suffix) || exponent))
        {
            Ok(v.to_string())
        } else {
            Err(self.error(
                key,
                format!("{v:?} is not a Kubernetes quantity such as \"250m\" or \"64Mi\""),
            ))
        }
    }

    /// A Go duration (`30s`, `1m30s`, `1h`), passed through unchanged.
    fn duration(&self, key: &str) -> Result<Option<String>, AnnotationError> {
        let Some(v) = self.non_empty(key) else {
            return Ok(None);
        };
        let mut rest = v.as_str();
        let mut parts = 0;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let unit_len = rest[digits..]
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len() - digits);
            let unit = &rest[digits..digits + unit_len];
            if digits == 0 || !["ns", "us", "µs", "ms", "s", "m", "h"].contains(&unit) {
                return Err(self.error(
                    key,
                    format!("{v:?} is not a duration such as \"30s\" or \"5m\""),
                ));
            }
            rest = &rest[digits + unit_len..];
            parts += 1;
        }
        if parts == 0 {
            return Err(self.error(key, "is empty"));
        }
        Ok(Some(v))
    }

    /// One warning per annotation nobody read.
    fn warnings(&self) -> Vec<String> {
        let read = self.read.borrow();
        self.all
            .keys()
            .filter(|k| !read.contains(**k) && **k != "agent-inject-status")
            .map(|k| {
                let known = NOT_IMPLEMENTED.contains(k)
                    || NOT_IMPLEMENTED_PREFIXES.iter().any(|p| k.starts_with(p));
                if known {
                    format!("{PREFIX}{k}: not supported by sidekey's injector; ignored")
                } else {
                    format!("{PREFIX}{k}: unknown annotation; ignored")
                }
            })
            .collect()
    }
}
