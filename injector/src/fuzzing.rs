//! Entry points for the fuzz targets in `fuzz/` (cargo feature `fuzzing`; not part of the injector's API).
//!
//! Each hands its input to one reader exactly as the webhook reads it and drops the result: any input
//! must end in an answer or an error, never a panic (a panic here blocks pod admission).

use std::collections::BTreeMap;

use crate::annotations::{self, Defaults};
use crate::review::{Settings, review};

/// A pod's annotations, read as the webhook reads them: normalized, asked whether to inject, parsed, and
/// turned into the agent configs and the pod patch's parts.
pub fn annotations(pod_annotations: &BTreeMap<String, String>) {
    let (normalized, _openbao) = annotations::normalize(pod_annotations);
    let _ = annotations::should_inject(&normalized);
    if let Ok(spec) = annotations::parse(&normalized, &defaults()) {
        let _ = crate::config::agent_config(&spec, true);
        let _ = crate::config::agent_config(&spec, false);
    }
}

/// An AdmissionReview request body, answered as `POST /mutate` answers it.
pub fn admission_review(body: &[u8]) {
    let settings = Settings {
        agent_image: "sidekey:fuzz".into(),
        defaults: defaults(),
    };
    let _ = review(body, &settings);
}

fn defaults() -> Defaults {
    Defaults {
        vault_address: Some("https://vault.vault.svc:8200".into()),
        ..Defaults::default()
    }
}
