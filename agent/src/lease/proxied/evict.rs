//! Evictions from the table: an entry with everything created under it, by lease id, prefix, token or
//! accessor, as the server's revocations (and Vault Agent's cache-clear) cover them.

use super::Fingerprint;
use super::table::{HeldId, HeldKind, Parent, Table};

impl Table {
    /// Forget `id` and everything created under it (its leases, its child tokens and theirs); returns how
    /// many entries went.
    pub fn evict(&mut self, id: HeldId) -> usize {
        let mut stack = vec![id];
        let mut n = 0;
        while let Some(id) = stack.pop() {
            let Some(e) = self.held.remove(&id) else {
                continue;
            };
            n += 1;
            self.unindex(id, &e.kind);
            stack.extend(
                self.held
                    .iter()
                    .filter(|(_, c)| c.parent == Parent::Held(id))
                    .map(|(k, _)| *k),
            );
        }
        if n > 0 {
            self.evictions += 1;
        }
        n
    }

    fn unindex(&mut self, id: HeldId, kind: &HeldKind) {
        match kind {
            HeldKind::Lease { lease_id } => {
                if self.by_lease.get(lease_id) == Some(&id) {
                    self.by_lease.remove(lease_id);
                }
            }
            HeldKind::Token { accessor, print } => {
                if self.by_token.get(print) == Some(&id) {
                    self.by_token.remove(print);
                }
                if self.by_accessor.get(accessor) == Some(&id) {
                    self.by_accessor.remove(accessor);
                }
            }
        }
    }

    /// Forget the lease `lease_id`.
    pub fn evict_lease(&mut self, lease_id: &str) -> usize {
        self.lease_id(lease_id).map_or(0, |id| self.evict(id))
    }

    /// Forget the leases a `revoke-prefix` (or `revoke-force`) of `prefix` revokes: the lease with that
    /// exact id if there is one, otherwise every lease under `prefix/`, as the server does.
    pub fn evict_prefix(&mut self, prefix: &str) -> usize {
        if let Some(id) = self.lease_id(prefix) {
            return self.evict(id);
        }
        let under = format!("{}/", prefix.trim_end_matches('/'));
        let ids: Vec<HeldId> = self
            .by_lease
            .iter()
            .filter(|(l, _)| l.starts_with(&under))
            .map(|(_, id)| *id)
            .collect();
        ids.into_iter().map(|id| self.evict(id)).sum()
    }

    /// Forget a token (by fingerprint or accessor) and everything created under it. For the agent's own
    /// token (revoked through the proxy), everything the cache holds under it.
    pub fn evict_token(&mut self, print: Option<Fingerprint>, accessor: Option<&str>) -> usize {
        if let Some(id) = self.token_id(print, accessor) {
            return self.evict(id);
        }
        let auto: Vec<Fingerprint> = self
            .auto
            .iter()
            .filter(|(p, a)| Some(**p) == print || Some(a.accessor.as_str()) == accessor)
            .map(|(p, _)| *p)
            .collect();
        let ids: Vec<HeldId> = self
            .held
            .iter()
            .filter(|(_, e)| matches!(e.parent, Parent::Auto(p) if auto.contains(&p)))
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter().map(|id| self.evict(id)).sum()
    }

    /// `auth/token/revoke-orphan`: forget the token and its leases; its child tokens live on as orphans.
    pub fn evict_orphan(&mut self, print: Option<Fingerprint>, accessor: Option<&str>) -> usize {
        let Some(id) = self.token_id(print, accessor) else {
            return 0;
        };
        let mut n = 0;
        let children: Vec<(HeldId, bool)> = self
            .held
            .iter()
            .filter(|(_, e)| e.parent == Parent::Held(id))
            .map(|(k, e)| (*k, matches!(e.kind, HeldKind::Lease { .. })))
            .collect();
        for (child, is_lease) in children {
            if is_lease {
                n += self.evict(child);
            } else if let Some(c) = self.held.get_mut(&child) {
                c.parent = Parent::None;
            }
        }
        if let Some(e) = self.held.remove(&id) {
            self.unindex(id, &e.kind);
            self.evictions += 1;
            n += 1;
        }
        n
    }

    /// Forget everything the cache holds (`cache-clear` of `all`). The agent's own tokens stay known, and
    /// the workloads' tokens stay held: they are no cache entries, and their callers are served with them.
    pub fn clear(&mut self) {
        let before = self.held.len();
        self.held.retain(|_, e| e.workload.is_some());
        if self.held.len() != before {
            self.evictions += 1;
        }
        let held = &self.held;
        self.by_lease.clear();
        self.by_token.retain(|_, id| held.contains_key(id));
        self.by_accessor.retain(|_, id| held.contains_key(id));
    }
}
