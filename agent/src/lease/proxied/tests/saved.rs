//! The cache's part of the state file, from the engine's side: its changes written (encrypted) at most
//! once a second, and read back into a new engine's table with the same fingerprints.

use super::engine::engine;
use super::*;
use crate::config::{Origin, PersistConfig, PersistKind};
use crate::persist::StateStore;
use crate::runtime::ProcessEnv;

fn state_store(dir: &std::path::Path) -> StateStore {
    let key = dir.join("key");
    std::fs::write(&key, hex::encode([7u8; 32])).unwrap();
    let origin = Origin {
        file: "agent.hcl".into(),
        line: 3,
    };
    let cfg = PersistConfig {
        kind: PersistKind::File,
        path: dir.join("state"),
        key_file: Some(key),
        keep_after_import: true,
        exit_on_err: false,
        allow_non_tmpfs: false,
        origin: origin.clone(),
        key_origin: Some(origin),
    };
    StateStore::open(&cfg, &ProcessEnv).unwrap()
}

/// The document the store holds now.
fn document(store: &mut StateStore) -> serde_json::Value {
    serde_json::from_slice(&store.import().unwrap().unwrap()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_caches_changes_are_written_coalesced_encrypted_and_restored_by_a_new_engine() {
    let dir = tempfile::Builder::new()
        .prefix("sidekey-cache-state-")
        .tempdir_in("/dev/shm")
        .unwrap();
    let mut e = engine();
    e.set_state_store(Some(state_store(dir.path())));
    e.sync_proxied();
    let leases = e.proxy_leases();
    let agent = leases.token_print(&SecretString::from("agent".to_string()));
    leases.lock().hold(lease(
        "database/creds/app/1",
        Parent::Auto(agent),
        300,
        true,
    ));
    leases.changed();
    // The first change is written at once.
    assert_eq!(e.save_cache_changes(Instant::now()), None);
    let mut reader = state_store(dir.path());
    let doc = document(&mut reader);
    assert_eq!(
        doc["cache"][0]["held"][0]["lease_id"],
        "database/creds/app/1"
    );
    let raw = std::fs::read(dir.path().join("state")).unwrap();
    for clear in ["database/creds/app/1", "\"agent\""] {
        assert!(!raw.windows(clear.len()).any(|w| w == clear.as_bytes()));
    }
    // A burst of changes within the second is one later write.
    for n in 2..5 {
        leases.lock().hold(lease(
            &format!("database/creds/app/{n}"),
            Parent::Auto(agent),
            300,
            true,
        ));
        leases.changed();
        assert_eq!(
            e.save_cache_changes(Instant::now()),
            Some(e.cache_saved_at.unwrap() + secs(1))
        );
    }
    assert_eq!(
        document(&mut reader)["cache"][0]["held"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    advance(secs(1)).await;
    assert_eq!(e.save_cache_changes(Instant::now()), None);
    let doc = document(&mut reader);
    assert_eq!(doc["cache"][0]["held"].as_array().unwrap().len(), 4);
    // Nothing changed: nothing due.
    assert_eq!(e.save_cache_changes(Instant::now()), None);

    // A restart with the same token: the table comes back under the same fingerprints.
    let mut next = engine();
    let cache = doc["cache"].as_array().unwrap().clone();
    next.restore_cache_entries(cache);
    next.sync_proxied();
    let restored = next.proxy_leases();
    assert_eq!(
        restored.token_print(&SecretString::from("agent".to_string())),
        agent
    );
    let table = restored.lock();
    assert_eq!(table.len(), 4);
    let id = table.lease_id("database/creds/app/1").unwrap();
    assert_eq!(table.get(id).unwrap().parent, Parent::Auto(agent));
    assert!(table.servable(id, Instant::now()));
}
