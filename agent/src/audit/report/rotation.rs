//! Rotation compliance of one secret: which credential it held when, its issuance, rotations, renewals
//! and failures on a timeline, and the stretches without a rotation longer than its `rotation_period`.

use serde::Serialize;

use super::rfc3339_ms;

/// What happened to a secret at one point of its timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkKind {
    /// The first credential seen in the window.
    Issue,
    /// A new credential replaced the previous one.
    Rotation,
    /// The lease was renewed.
    Renewal,
    /// A retrieval or renewal failed.
    Failure,
}

/// One point of a secret's timeline.
#[derive(Clone, Debug, Serialize)]
pub struct Mark {
    /// When (RFC 3339).
    pub time: String,
    /// What.
    pub kind: MarkKind,
    /// `time` in milliseconds since the epoch, when it parses.
    #[serde(skip)]
    pub(super) ms: Option<i64>,
}

/// A stretch without a rotation longer than the rotation period.
#[derive(Clone, Debug, Serialize)]
pub struct Overdue {
    /// When the credential held through the stretch was first seen.
    pub from: String,
    /// The next rotation, or the end of the window.
    pub to: String,
    /// The stretch's length in seconds.
    pub seconds: u64,
    /// Whether it runs to the end of the window: the credential was still not rotated then.
    pub open: bool,
    /// `from` in milliseconds since the epoch.
    #[serde(skip)]
    pub(super) from_ms: i64,
    /// `to` in milliseconds since the epoch.
    #[serde(skip)]
    pub(super) to_ms: i64,
}

/// What tells one credential from the next, as far as the trail says: its lease id, KV version and
/// certificate serial (a retrieval event has the first two; an `output.secrets` entry may add the serial).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct CredentialId {
    lease_id: Option<String>,
    version: Option<u64>,
    serial: Option<String>,
}

/// The credentials a secret was seen with, in time order.
#[derive(Debug, Default)]
pub(super) struct Credentials {
    /// The credential held now; `None` before the first.
    last: Option<CredentialId>,
    /// Rotations (new credentials after the first).
    pub rotations: u64,
    /// When each credential was first seen (the issuance and each rotation), in milliseconds.
    pub rotation_times: Vec<i64>,
    /// When the last one was first seen (RFC 3339).
    pub last_rotation: String,
    /// The timeline.
    pub marks: Vec<Mark>,
}

// === impl MarkKind ===

impl MarkKind {
    /// The word a reader sees.
    pub fn label(self) -> &'static str {
        match self {
            Self::Issue => "issuance",
            Self::Rotation => "rotation",
            Self::Renewal => "renewal",
            Self::Failure => "failure",
        }
    }
}

// === impl CredentialId ===

impl CredentialId {
    /// From the fields of an event (empty strings are absent).
    pub fn new(lease_id: &str, version: Option<u64>, serial: &str) -> Self {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Self {
            lease_id: some(lease_id),
            version,
            serial: some(serial),
        }
    }

    /// Whether the trail says nothing that tells this credential from another.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Whether `other` is the same credential: some field both name, and none both name differs.
    fn same(&self, other: &Self) -> bool {
        fn agree<T: PartialEq>(a: Option<&T>, b: Option<&T>) -> Option<bool> {
            Some(a? == b?)
        }
        let fields = [
            agree(self.lease_id.as_ref(), other.lease_id.as_ref()),
            agree(self.version.as_ref(), other.version.as_ref()),
            agree(self.serial.as_ref(), other.serial.as_ref()),
        ];
        fields.contains(&Some(true)) && !fields.contains(&Some(false))
    }

    /// Add what `other` says (a delivered certificate's serial, to the issue that retrieved it).
    fn merge(&mut self, other: Self) {
        self.lease_id = self.lease_id.take().or(other.lease_id);
        self.version = self.version.or(other.version);
        self.serial = self.serial.take().or(other.serial);
    }
}

// === impl Credentials ===

impl Credentials {
    /// A retrieval that gave credential `id`. A write-style retrieval (a PKI issue) without an id is
    /// always a new credential; a read without one (KV v1) is the same as before.
    pub fn retrieved(&mut self, id: CredentialId, issued: bool, time: &str, ms: Option<i64>) {
        let new = match &self.last {
            None => true,
            Some(_) if id.is_empty() => issued,
            Some(prev) => !prev.same(&id),
        };
        self.seen(new, id, time, ms);
    }

    /// An output or the child's environment received credential `id` (not empty): a new one unless
    /// it is the one retrieved last, or that one had no id (the certificate just issued, whose serial
    /// only the output names).
    pub fn delivered(&mut self, id: CredentialId, time: &str, ms: Option<i64>) {
        let new = match &self.last {
            Some(prev) => !prev.is_empty() && !prev.same(&id),
            None => true,
        };
        self.seen(new, id, time, ms);
    }

    /// The lease was renewed.
    pub fn renewed(&mut self, time: &str, ms: Option<i64>) {
        self.mark(MarkKind::Renewal, time, ms);
    }

    /// A retrieval or renewal failed.
    pub fn failed(&mut self, time: &str, ms: Option<i64>) {
        self.mark(MarkKind::Failure, time, ms);
    }

    /// Credential `id` seen: a `new` one is the issuance when it is the first, a rotation otherwise; the
    /// same one may tell more about itself.
    fn seen(&mut self, new: bool, id: CredentialId, time: &str, ms: Option<i64>) {
        match &mut self.last {
            Some(prev) if !new => prev.merge(id),
            last => {
                let kind = if last.is_some() {
                    self.rotations += 1;
                    MarkKind::Rotation
                } else {
                    MarkKind::Issue
                };
                *last = Some(id);
                self.rotation_times.extend(ms);
                self.last_rotation = time.to_string();
                self.mark(kind, time, ms);
            }
        }
    }

    fn mark(&mut self, kind: MarkKind, time: &str, ms: Option<i64>) {
        self.marks.push(Mark {
            time: time.to_string(),
            kind,
            ms,
        });
    }

    /// The stretches without a rotation longer than `period_s`: between two credentials, and from the
    /// last one to `end_ms` (the end of the window).
    pub fn overdue(&self, period_s: Option<u64>, end_ms: Option<i64>) -> Vec<Overdue> {
        let Some(period_ms) = period_s.and_then(|p| i64::try_from(p).ok()?.checked_mul(1000))
        else {
            return Vec::new();
        };
        let open = match (self.rotation_times.last(), end_ms) {
            (Some(&last), Some(end)) if end > last => Some((last, end, true)),
            _ => None,
        };
        self.rotation_times
            .windows(2)
            .filter_map(|w| match w {
                [a, b] => Some((*a, *b, false)),
                _ => None,
            })
            .chain(open)
            .filter(|(a, b, _)| b.saturating_sub(*a) > period_ms)
            .map(|(a, b, open)| Overdue {
                from: rfc3339_ms(a),
                to: rfc3339_ms(b),
                seconds: u64::try_from((b - a) / 1000).unwrap_or_default(),
                open,
                from_ms: a,
                to_ms: b,
            })
            .collect()
    }
}
