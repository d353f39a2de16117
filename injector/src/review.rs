//! One admission.k8s.io/v1 `AdmissionReview` in, one out: the webhook's decision, apart from HTTP.
//!
//! Pods that do not ask for injection (no `agent-inject: "true"`, or already `agent-inject-status:
//! injected`) are allowed unchanged. A malformed annotation denies the pod with a message naming it.
//! Recognised-but-unsupported annotations are admitted with one `warnings` entry each.

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use k8s_openapi::api::core::v1::Pod;
use kube_core::DynamicObject;
use kube_core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use serde_json::Value;

use crate::annotations::{self, Defaults};
use crate::patch;

/// What the webhook needs besides the request: the injector's flags.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The agent image when the pod sets no `agent-image`.
    pub agent_image: String,
    /// Defaults for annotations the pod does not set.
    pub defaults: Defaults,
}

/// Answer an `AdmissionReview` (JSON bytes) with the answering `AdmissionReview` as JSON.
///
/// The `patch` is base64 text, as the admission.k8s.io/v1 API documents its `[]byte` field (kube-core would
/// write an array of numbers: kube-rs issue #1781).
///
/// # Errors
/// The body is not an `AdmissionReview` with a request (the caller answers 400).
pub fn review(body: &[u8], settings: &Settings) -> Result<Value, String> {
    let review: AdmissionReview<Pod> =
        serde_json::from_slice(body).map_err(|e| format!("not an AdmissionReview: {e}"))?;
    let request: AdmissionRequest<Pod> = review
        .try_into()
        .map_err(|_| "the AdmissionReview has no request".to_string())?;
    let answer: AdmissionReview<DynamicObject> = respond(&request, settings).into_review();
    let mut json =
        serde_json::to_value(&answer).map_err(|e| format!("encoding the answer: {e}"))?;
    if let Some(patch) = answer.response.as_ref().and_then(|r| r.patch.as_ref()) {
        json["response"]["patch"] = Value::String(BASE64_STANDARD.encode(patch));
    }
    Ok(json)
}

fn respond(request: &AdmissionRequest<Pod>, settings: &Settings) -> AdmissionResponse {
    let allowed = AdmissionResponse::from(request);
    let Some(pod) = &request.object else {
        return allowed;
    };
    let (annotations, openbao) =
        annotations::normalize(&pod.metadata.annotations.clone().unwrap_or_default());
    // Messages name the annotations the way the pod spells them.
    let say = |m: String| {
        if openbao {
            annotations::openbao_names(&m)
        } else {
            m
        }
    };
    match annotations::should_inject(&annotations) {
        Ok(false) => return allowed,
        Ok(true) => {}
        Err(e) => return allowed.deny(say(e.to_string())),
    }
    let spec = match annotations::parse(&annotations, &settings.defaults) {
        Ok(spec) => spec,
        Err(e) => return allowed.deny(say(e.to_string())),
    };
    let ops = match patch::patch(pod, &spec, &settings.agent_image) {
        Ok(ops) => ops,
        Err(e) => return allowed.deny(say(e.to_string())),
    };
    let warnings: Vec<String> = spec.warnings.iter().map(|w| say(w.clone())).collect();
    let patch: json_patch::Patch = match serde_json::from_value(Value::Array(ops)) {
        Ok(p) => p,
        Err(e) => return allowed.deny(format!("internal error building the patch: {e}")),
    };
    match allowed.clone().with_patch(patch) {
        Ok(mut response) => {
            if !warnings.is_empty() {
                response.warnings = Some(warnings);
            }
            response
        }
        Err(e) => allowed.deny(format!("internal error encoding the patch: {e}")),
    }
}
