//! The formats a sink writes: sidekey's own schema (v1, the default), OCSF 1.7 and ECS. One event is
//! encoded once per sink, in that sink's format, with that sink's `prev_hash`; the chain then hashes the
//! bytes as written (see `chain`).
//!
//! OCSF and ECS put every field that has a home in their schema there, and keep what is left of the
//! sidekey event (same names, same shape) in their own place for it, OCSF's `unmapped` and ECS's
//! `sidekey` object, which ends with the chain members `seq`, `prev_hash` (and, once written, `hash`).
//! Nothing is copied twice and nothing is lost, so [`to_sidekey`] turns any line back into the sidekey
//! shape: `sidekey report` and `audit verify` read all three formats. docs/audit-events.md has the
//! tables.

mod ecs;
mod map;
mod ocsf;

use serde_json::Value;

use super::event::{Event, SCHEMA_VERSION};

pub(crate) use map::rfc3339_ms;

/// What a sink writes: `format = "sidekey" | "ocsf" | "ecs"` in its stanza.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// sidekey's own schema (v1).
    #[default]
    Sidekey,
    /// OCSF 1.7: API Activity, Authentication, File System Activity, Process Activity, Application
    /// Lifecycle, one class per event.
    Ocsf,
    /// Elastic Common Schema field names.
    Ecs,
}

impl Format {
    /// The values `format` takes, as a config error lists them.
    pub const CHOICES: &'static str = "\"sidekey\", \"ocsf\" or \"ecs\"";

    /// The format named `name` (as in the config), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sidekey" => Some(Self::Sidekey),
            "ocsf" => Some(Self::Ocsf),
            "ecs" => Some(Self::Ecs),
            _ => None,
        }
    }

    /// The canonical encoding of `ev` with `prev_hash` as its chain's previous hash: one compact JSON
    /// object without the `hash` member, which `chain::seal` then adds as the last member of the last
    /// object.
    ///
    /// # Errors
    /// Only if the event cannot be serialised (it always can: the error is serde's).
    pub fn encode(self, ev: &Event, prev_hash: &str) -> Result<Vec<u8>, serde_json::Error> {
        let Value::Object(mut v) = serde_json::to_value(ev)? else {
            // An event is always an object; anything else would be written as it is.
            return serde_json::to_vec(ev);
        };
        let encoded = match self {
            Self::Sidekey => {
                v.insert("prev_hash".into(), prev_hash.into());
                v
            }
            Self::Ocsf => ocsf::encode(v, prev_hash),
            Self::Ecs => ecs::encode(v, prev_hash),
        };
        serde_json::to_vec(&encoded)
    }
}

/// The chain members of one parsed line, wherever its format keeps them.
#[derive(Debug, PartialEq, Eq)]
pub struct Chain<'a> {
    /// The agent run that wrote it (`agent.id`).
    pub agent_id: &'a str,
    /// Its sequence number in that run.
    pub seq: u64,
    /// The previous line's hash.
    pub prev_hash: &'a str,
}

/// The chain members of `line` (sidekey's top level, OCSF's `unmapped`, ECS's `sidekey`); `None` when
/// a member is missing.
pub fn chain_of(line: &Value) -> Option<Chain<'_>> {
    let (chain, agent_id) = match detect(line) {
        Format::Sidekey => (line, line.pointer("/agent/id")),
        Format::Ocsf => (&line["unmapped"], line.pointer("/unmapped/agent_id")),
        Format::Ecs => (&line["sidekey"], line.pointer("/agent/id")),
    };
    Some(Chain {
        agent_id: agent_id.and_then(Value::as_str).unwrap_or_default(),
        seq: chain.get("seq")?.as_u64()?,
        prev_hash: chain.get("prev_hash")?.as_str()?,
    })
}

/// Any line in the sidekey shape (v1): OCSF and ECS lines mapped back, a sidekey line as it is.
pub fn to_sidekey(line: Value) -> Value {
    let Value::Object(rec) = line else {
        return line;
    };
    let mut ev = match detect_map(&rec) {
        Format::Sidekey => return Value::Object(rec),
        Format::Ocsf => ocsf::decode(rec),
        Format::Ecs => ecs::decode(rec),
    };
    ev.insert("v".into(), SCHEMA_VERSION.into());
    Value::Object(ev)
}

/// Which format a parsed line is in: OCSF has `class_uid`, ECS `ecs.version`.
fn detect(line: &Value) -> Format {
    match line {
        Value::Object(m) => detect_map(m),
        _ => Format::Sidekey,
    }
}

fn detect_map(m: &serde_json::Map<String, Value>) -> Format {
    if m.contains_key("class_uid") {
        Format::Ocsf
    } else if m.contains_key("ecs") {
        Format::Ecs
    } else {
        Format::Sidekey
    }
}

#[cfg(test)]
mod tests;
