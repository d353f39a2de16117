//! [`Record`]: what a caller reports, built up field by field; the auditor makes it an [`super::Event`].

use super::{
    AnchorMeta, BackendMeta, CallerMeta, CredentialMeta, EventKind, Identity, Outcome, OutputMeta,
    ProxyMeta, ReloadMeta, SecretMeta,
};

/// What a caller reports; the auditor fills in time, sequence, agent and hashes.
#[derive(Clone, Debug)]
pub struct Record {
    /// What happened.
    pub event: EventKind,
    /// Whether it worked.
    pub outcome: Outcome,
    /// Who the backend saw.
    pub identity: Option<Identity>,
    /// Which secret.
    pub secret: Option<SecretMeta>,
    /// Which server node answered.
    pub backend: Option<BackendMeta>,
    /// Where it went.
    pub output: Option<OutputMeta>,
    /// What a reload changed.
    pub reload: Option<ReloadMeta>,
    /// How the API proxy was asked and answered.
    pub proxy: Option<ProxyMeta>,
    /// Who called the API proxy.
    pub caller: Option<CallerMeta>,
    /// Which `LoadCredential=` credential was asked for.
    pub credential: Option<CredentialMeta>,
    /// Which chain head an `audit.anchor` wrote where.
    pub anchor: Option<AnchorMeta>,
    /// Why it failed (an error message, which by construction holds no secret value).
    pub error: Option<String>,
}

impl Record {
    /// A record of `event` with `outcome` and nothing else yet.
    pub fn new(event: EventKind, outcome: Outcome) -> Self {
        Self {
            event,
            outcome,
            identity: None,
            secret: None,
            backend: None,
            output: None,
            reload: None,
            proxy: None,
            caller: None,
            credential: None,
            anchor: None,
            error: None,
        }
    }

    /// A success or a failure depending on `err`.
    pub fn result<E: std::fmt::Display>(event: EventKind, err: Option<&E>) -> Self {
        let mut r = Self::new(
            event,
            if err.is_some() {
                Outcome::Failure
            } else {
                Outcome::Success
            },
        );
        r.error = err.map(ToString::to_string);
        r
    }

    /// With an identity.
    pub fn identity(mut self, i: Option<Identity>) -> Self {
        self.identity = i;
        self
    }

    /// With a secret.
    pub fn secret(mut self, s: SecretMeta) -> Self {
        self.secret = Some(s);
        self
    }

    /// Answered by the server node configured as `node` (with several `addresses`, the one in use).
    pub fn node(mut self, node: &str) -> Self {
        self.backend = Some(BackendMeta {
            node: node.to_string(),
            ..BackendMeta::default()
        });
        self
    }

    /// With the anchor written (or tried).
    pub fn anchor(mut self, a: AnchorMeta) -> Self {
        self.anchor = Some(a);
        self
    }

    /// Answered with the server's `request_id` (none, or empty: the answer had none). Call after
    /// [`Record::node`].
    pub fn request_id(mut self, id: Option<&str>) -> Self {
        if let Some(id) = id.filter(|i| !i.is_empty()) {
            self.backend.get_or_insert_default().request_id = Some(id.to_string());
        }
        self
    }

    /// As another kind of event (same identity, secret and output).
    #[cfg(test)]
    pub fn event_kind(mut self, event: EventKind) -> Self {
        self.event = event;
        self
    }

    /// With what a reload changed.
    pub fn reload(mut self, r: ReloadMeta) -> Self {
        self.reload = Some(r);
        self
    }

    /// A request the API proxy answered, and who asked.
    pub fn proxied(mut self, p: ProxyMeta, caller: CallerMeta) -> Self {
        self.proxy = Some(p);
        self.caller = Some(caller);
        self
    }

    /// With an output.
    pub fn output(mut self, o: OutputMeta) -> Self {
        self.output = Some(o);
        self
    }
}
