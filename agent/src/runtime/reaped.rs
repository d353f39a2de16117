//! Exit statuses taken by the exec supervisor's reaper for processes someone else is waiting for.
//!
//! In exec mode sidekey reaps every ended process (`waitpid(-1)`), so that orphans never stay zombies.
//! That can take the status of a template `command` before the code that started it sees it; this
//! registry hands the status over.

use std::collections::HashMap;
use std::sync::Mutex;

/// `pid` → its exit code once reaped (its code, or 128+N when killed by signal N).
static WATCHED: Mutex<Option<HashMap<i32, Option<i32>>>> = Mutex::new(None);

/// Ask the reaper to keep the status of `pid`.
pub fn watch(pid: i32) {
    if let Ok(mut w) = WATCHED.lock() {
        w.get_or_insert_with(HashMap::new).insert(pid, None);
    }
}

/// Stop watching `pid`; its status, if the reaper took it.
pub fn forget(pid: i32) -> Option<i32> {
    WATCHED
        .lock()
        .ok()
        .and_then(|mut w| w.as_mut().and_then(|m| m.remove(&pid)).flatten())
}

/// The status of a watched `pid` that the reaper took, if any yet.
pub fn status(pid: i32) -> Option<i32> {
    WATCHED
        .lock()
        .ok()
        .and_then(|w| w.as_ref().and_then(|m| m.get(&pid).copied()).flatten())
}

/// Called by the reaper for every process it reaped: keeps the status if someone watches `pid`.
pub fn reaped(pid: i32, code: i32) {
    if let Ok(mut w) = WATCHED.lock()
        && let Some(slot) = w.as_mut().and_then(|m| m.get_mut(&pid))
    {
        *slot = Some(code);
    }
}
