//! The anchoring agent's setting: an OpenBao with the anchor path set up exactly as
//! docs/audit-events.md says (its commands run with the real `bao`, its policies as printed), a JWT role
//! for the agent, and its config.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::bao::bao_bin;
use crate::hcl::{self, AutoAuth};
use crate::jwt::AUDIENCE;
use crate::setup::APP_POLICY;
use crate::{Fixture, Setup};

/// The subject of the JWT role the anchoring agent logs in with.
pub const SUBJECT: &str = "system:serviceaccount:default:anchored";

/// The fenced block of docs/audit-events.md (`lang`) whose first line starts with `first`.
pub fn docs_block(lang: &str, first: &str) -> String {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/audit-events.md");
    let text = std::fs::read_to_string(&docs).unwrap();
    let fence = format!("```{lang}\n");
    text.split(fence.as_str())
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.starts_with(first))
        .unwrap_or_else(|| {
            panic!(
                "no ```{lang} block starting with {first:?} in {}",
                docs.display()
            )
        })
        .to_string()
}

/// Run the operator's commands of "Setting up the anchor path" with the real `bao`, as root.
pub fn run_docs_setup(addr: &str) {
    for line in docs_block("sh", "bao secrets enable").lines() {
        let args: Vec<&str> = line.split_whitespace().skip(1).collect();
        let out = Command::new(bao_bin())
            .args(&args)
            .env_clear()
            .env("BAO_ADDR", addr)
            .env("BAO_TOKEN", "root")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`{line}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The anchors written (successful `audit.anchor` events) among `evs`.
pub fn anchors(evs: &[Value]) -> Vec<&Value> {
    evs.iter()
        .filter(|e| e["event"] == "audit.anchor" && e["outcome"] == "success")
        .collect()
}

/// An OpenBao with the anchor path set up as the docs say, the JWT role `anchored` whose policy is `app`'s
/// plus the docs' anchor-writer policy, and a directory for the trail.
pub struct Anchored {
    /// The server, its JWT issuer and the test's directory.
    pub fx: Fixture,
    /// The directory the agent writes its audit file (and rotated files) in.
    pub trail: PathBuf,
}

impl Anchored {
    /// Start the server and set it up.
    pub fn start() -> Anchored {
        let fx = Setup::new()
            .jwt_role("anchored", SUBJECT, "anchored")
            .start();
        run_docs_setup(&fx.addr());
        let agent_policy = docs_block("hcl", "# policy \"sidekey-anchor-web-1\"");
        fx.bao.write(
            "sys/policies/acl/anchored",
            json!({ "policy": format!("{APP_POLICY}\n{agent_policy}") }),
        );
        let trail = fx.dir.path().join("trail");
        std::fs::create_dir(&trail).unwrap();
        Anchored { fx, trail }
    }

    /// An agent config: JWT auto-auth as `anchored` with a token sink, `audit { file { path FILE... }
    /// AUDIT... anchor { path interval } }`, then `body`.
    pub fn config(
        &self,
        file: &[&str],
        audit: &[&str],
        anchor: (&str, &str),
        body: &[String],
    ) -> PathBuf {
        let jwt = self
            .fx
            .mint_jwt(SUBJECT, AUDIENCE, Duration::from_secs(600));
        let path = hcl::attr_path("path", &self.trail.join("audit.log"));
        let file: Vec<&str> = std::iter::once(path.as_str())
            .chain(file.iter().copied())
            .collect();
        let file = hcl::block("file", &file);
        let anchor = hcl::block(
            "anchor",
            &[
                &hcl::attr("path", anchor.0),
                &hcl::attr("interval", anchor.1),
            ],
        );
        let stanza: Vec<&str> = std::iter::once(file.as_str())
            .chain(audit.iter().copied())
            .chain(std::iter::once(anchor.as_str()))
            .collect();
        let text = [
            hcl::vault(&self.fx.addr()),
            AutoAuth::jwt(&jwt.path, "anchored")
                .sink(&self.sink(), &[])
                .to_string(),
            hcl::block("audit", &stanza),
        ]
        .into_iter()
        .chain(body.iter().cloned())
        .collect::<String>();
        self.fx.write_config(&text)
    }

    /// The agent's token sink.
    pub fn sink(&self) -> PathBuf {
        self.fx.dir.path().join("token")
    }
}
