//! Free loopback ports.
//!
//! A port is found by binding `127.0.0.1:0` and releasing it. Ports handed out once are remembered for
//! the life of the test process so that two tests running in parallel never get the same one; another
//! process may still take a port between our check and the server's bind, so servers retry on a bind
//! failure.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Mutex, OnceLock};

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

fn bind(port: u16) -> Option<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).ok()
}

/// A free loopback TCP port not handed out before in this process.
pub fn free_port() -> u16 {
    free_ports(1)
}

/// The first of `n` consecutive free loopback ports (`p`, `p+1`, ...), none handed out before in
/// this process. OpenBao's dev server needs `n = 2`: it also binds `PORT+1` for its cluster listener.
pub fn free_ports(n: u16) -> u16 {
    for _ in 0..200 {
        let Some(first) = bind(0) else { continue };
        let Ok(addr) = first.local_addr() else {
            continue;
        };
        let p = addr.port();
        if p.checked_add(n).is_none() {
            continue;
        }
        let rest: Option<Vec<TcpListener>> = (1..n).map(|i| bind(p + i)).collect();
        if rest.is_none() {
            continue;
        }
        let mut seen = handed_out().lock().unwrap_or_else(|e| e.into_inner());
        if (0..n).any(|i| seen.contains(&(p + i))) {
            continue;
        }
        seen.extend((0..n).map(|i| p + i));
        return p;
    }
    panic!("no {n} consecutive free loopback ports found after 200 tries");
}
