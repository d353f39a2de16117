//! Where each key belongs: the keys of every block, Vault Agent's and sidekey's. A key nobody read in a block
//! is then one of: a key of newer Vault Agent versions, a key of another block (misplaced), a typo of a key
//! of this block, or unknown. [`stray`] answers the first two; `Section` does the rest.
//!
//! Vault Agent decodes most stanzas with HCL's decoder, which skips keys it does not know, so real configs
//! carry misplaced keys (`exit_after_auth` inside `auto_auth`) that have never done anything. Those load with
//! a warning. Where Vault Agent refuses unknown keys itself (consul-template's `template`, `env_template` and
//! `exec`, checked against `bao agent`), and in sidekey's own blocks, a misplaced key stays an error.

pub(super) use table::TOP_KEYS;
use table::{BLOCKS, NEWER};

mod table;

/// One block's keys.
struct Block {
    /// Its key path with labels left out (`""` is the top level); later entries are other spellings of the
    /// same block (`openbao` for `vault`, `auto_auth.sinks.sink` for `auto_auth.sink`).
    kinds: &'static [&'static str],
    /// Every key read in it, attributes and nested blocks.
    keys: &'static [&'static str],
    /// The keys of `keys` only sidekey knows (its extensions): a Vault Agent config cannot carry them.
    sidekey: &'static [&'static str],
    /// Whether Vault Agent skips a key it does not know here, rather than refusing it.
    skips_unknown: bool,
}

impl Block {
    fn is(&self, kind: &str) -> bool {
        self.kinds.contains(&kind)
    }

    /// How a message names the block: "at the top level", "in auto_auth.method".
    fn place(&self) -> String {
        match self.kinds.first() {
            Some(&"") | None => "at the top level".into(),
            Some(kind) => format!("in {kind}"),
        }
    }
}

/// A Vault Agent block, which skips keys it does not know.
const fn agent(
    kinds: &'static [&'static str],
    keys: &'static [&'static str],
    sidekey: &'static [&'static str],
) -> Block {
    Block {
        kinds,
        keys,
        sidekey,
        skips_unknown: true,
    }
}

/// A block that refuses keys it does not know: consul-template's, or sidekey's own.
const fn strict(
    kinds: &'static [&'static str],
    keys: &'static [&'static str],
    sidekey: &'static [&'static str],
) -> Block {
    Block {
        kinds,
        keys,
        sidekey,
        skips_unknown: false,
    }
}

/// What a key nobody read is, when it is more than unknown.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stray {
    /// A key of newer Vault Agent versions, and why ignoring it changes nothing delivered.
    Newer(&'static str),
    /// A key of other blocks: where it belongs ("at the top level", "in vault or in auto_auth.method"), and
    /// whether it may be ignored (Vault Agent skips it in this block, and it is a Vault Agent key).
    Misplaced {
        /// Where it belongs.
        places: String,
        /// Whether it loads with a warning rather than an error.
        ignored: bool,
    },
}

/// What `key`, found unread in the block `kind`, is; `None` for a typo or an unknown key.
pub(crate) fn stray(kind: &str, key: &str) -> Option<Stray> {
    if let Some((_, _, why)) = NEWER.iter().find(|(k, name, _)| *k == kind && *name == key) {
        return Some(Stray::Newer(why));
    }
    let here = BLOCKS.iter().find(|b| b.is(kind));
    // A key of this very block that nobody read (another method's settings, a consul-template key sidekey
    // does not read) is not misplaced, even if another block has a key of that name.
    if here.is_some_and(|b| b.keys.contains(&key)) {
        return None;
    }
    let homes: Vec<&Block> = BLOCKS.iter().filter(|b| b.keys.contains(&key)).collect();
    if homes.is_empty() {
        return None;
    }
    let skips_unknown = here.is_some_and(|b| b.skips_unknown);
    let agent_key = homes.iter().any(|b| !b.sidekey.contains(&key));
    let places: Vec<String> = homes.iter().map(|b| b.place()).collect();
    Some(Stray::Misplaced {
        places: places.join(" or "),
        ignored: skips_unknown && agent_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_block_is_listed_once() {
        let mut kinds: Vec<&str> = BLOCKS
            .iter()
            .flat_map(|b| b.kinds.iter().copied())
            .collect();
        let all = kinds.len();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), all, "a block kind is listed twice");
        for b in BLOCKS {
            for k in b.sidekey {
                assert!(
                    b.keys.contains(k),
                    "{:?}: {k} is not among its keys",
                    b.kinds
                );
            }
        }
    }

    #[test]
    fn a_vault_agent_key_in_a_skipping_block_is_ignored() {
        assert_eq!(
            stray("auto_auth", "exit_after_auth"),
            Some(Stray::Misplaced {
                places: "at the top level".into(),
                ignored: true
            })
        );
        assert_eq!(
            stray("", "namespace"),
            Some(Stray::Misplaced {
                places: "in vault or in auto_auth.method".into(),
                ignored: true
            })
        );
    }

    #[test]
    fn strict_blocks_and_sidekey_keys_stay_errors() {
        let refused = |kind, key| {
            matches!(
                stray(kind, key),
                Some(Stray::Misplaced { ignored: false, .. })
            )
        };
        assert!(refused("template", "exit_after_auth"));
        assert!(refused("env_template", "perms"));
        assert!(refused("exec", "destination"));
        assert!(refused("vault", "lease_state_file"));
        assert!(refused("template_config", "hmac_key_file"));
    }

    #[test]
    fn own_keys_and_unknown_keys_are_not_strays() {
        assert_eq!(stray("auto_auth.method.config", "token_path"), None);
        assert_eq!(stray("template.exec", "splay"), None);
        assert_eq!(stray("template.wait", "enabled"), None);
        assert_eq!(stray("env_template", "error_fatal"), None);
        assert_eq!(stray("template", "destinaton"), None);
        assert_eq!(
            stray("auto_auth.method", "lease_renewal_threshold"),
            Some(Stray::Newer(
                "sidekey renews its token at about two thirds of its TTL"
            ))
        );
    }
}
