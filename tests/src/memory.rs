//! A process's resident memory, as `/proc/PID/status` (and `smaps_rollup`) report it: the benchmarks'
//! memory figures.

use std::time::Duration;

/// Resident memory of one process, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rss {
    /// `VmRSS`: every resident page, shared ones (the binary's text, libraries) included.
    pub total: u64,
    /// `RssAnon`: resident anonymous pages (heap, stacks): what the process itself allocated.
    pub anon: u64,
    /// `Pss` (`/proc/PID/smaps_rollup`): resident pages, each shared one divided among the processes
    /// sharing it, so the figures of processes running the same binary add up to what they really use.
    pub pss: u64,
}

impl std::ops::Add for Rss {
    type Output = Rss;

    fn add(self, other: Rss) -> Rss {
        Rss {
            total: self.total + other.total,
            anon: self.anon + other.anon,
            pss: self.pss + other.pss,
        }
    }
}

impl std::iter::Sum for Rss {
    fn sum<I: Iterator<Item = Rss>>(iter: I) -> Rss {
        iter.fold(Rss::default(), |a, b| a + b)
    }
}

/// The value of `field` (`VmRSS`, `RssAnon`, ...) in `/proc/PID/status`, in kB; `None` once `pid` is gone.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    proc_kib(pid, "status", field)
}

/// The value of `field` in `/proc/PID/FILE` (lines `Field:   N kB`).
fn proc_kib(pid: u32, file: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `VmRSS` of `pid` in KiB, or `None` if it is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

/// `VmRSS`, `RssAnon` and `Pss` of `pid` now, or `None` if it is gone.
pub fn rss(pid: u32) -> Option<Rss> {
    Some(Rss {
        total: rss_kib(pid)?,
        anon: status_kib(pid, "RssAnon")?,
        pss: proc_kib(pid, "smaps_rollup", "Pss")?,
    })
}

/// The median (by `VmRSS`) of `samples` readings of `pid`'s memory taken `every` apart: a figure a
/// passing allocation does not skew. `None` if `pid` was gone at every reading.
pub fn steady_rss(pid: u32, samples: usize, every: Duration) -> Option<Rss> {
    let mut seen: Vec<Rss> = Vec::with_capacity(samples);
    for i in 0..samples {
        if i > 0 {
            std::thread::sleep(every);
        }
        seen.extend(rss(pid));
    }
    seen.sort_by_key(|r| r.total);
    seen.get(seen.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = rss(std::process::id()).expect("our own /proc/self/status");
        assert!(me.anon > 0 && me.anon <= me.total, "{me:?}");
        assert!(me.pss > 0 && me.pss <= me.total, "{me:?}");
        assert_eq!(status_kib(std::process::id(), "NoSuchField"), None);
    }
}
