//! `sidekey audit verify --per-run`: a collector's copy of a sink that is not a file (`stdout`, `http`,
//! `syslog`, `otlp`). Those sinks start a chain from [`GENESIS`] at each agent run, and deliver at least
//! once, so such a copy holds one chain per `agent.id`, possibly interleaved with other runs' and with
//! repeated lines. Each run is checked as its own chain; a line repeating an earlier one of the same
//! `agent.id` and `seq` byte for byte is a redelivery, skipped and counted.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{Broken, GENESIS, Hasher, InFile, each_line, format, sealed};

/// A collector's copy verified run by run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsVerified {
    /// Events, each redelivered line counted once.
    pub events: usize,
    /// Agent runs (`agent.id`s).
    pub runs: usize,
    /// Lines skipped as redeliveries (same `agent.id` and `seq`, same bytes).
    pub duplicates: usize,
    /// Runs whose first event in the copy continues a chain started before it (`allow_continuation`).
    pub continued: usize,
}

/// Verify `files` in order, each `agent.id` a chain of its own (see the module doc).
///
/// # Errors
/// [`InFile`]: the first break, in which file.
pub fn verify_runs(
    files: &[PathBuf],
    hasher: &Hasher,
    allow_continuation: bool,
) -> Result<RunsVerified, InFile> {
    let mut v = RunVerifier {
        hasher,
        allow_continuation,
        last: HashMap::new(),
        hashes: HashMap::new(),
        result: RunsVerified {
            events: 0,
            runs: 0,
            duplicates: 0,
            continued: 0,
        },
    };
    each_line(files, &mut |_, n, line| v.line(n, line))?;
    v.result.runs = v.last.len();
    Ok(v.result)
}

/// The state of every run seen so far.
struct RunVerifier<'a> {
    hasher: &'a Hasher,
    allow_continuation: bool,
    /// Each run's last `seq` and `hash`.
    last: HashMap<String, (u64, String)>,
    /// The `hash` of every (`agent.id`, `seq`) seen, to tell a redelivery from a conflicting line.
    hashes: HashMap<(String, u64), String>,
    result: RunsVerified,
}

impl RunVerifier<'_> {
    fn line(&mut self, n: usize, line: &str) -> Result<(), Broken> {
        let (ev, hash) = sealed(self.hasher, n, line)?;
        let chain = format::chain_of(&ev).ok_or(Broken::Malformed { line: n })?;
        let (agent, seq) = (chain.agent_id.to_string(), chain.seq);
        // The hash covers every byte but itself, so an equal hash is an equal line.
        if let Some(first) = self.hashes.get(&(agent.clone(), seq)) {
            if first == hash {
                self.result.duplicates += 1;
                return Ok(());
            }
            return Err(Broken::RunConflict {
                line: n,
                agent,
                seq,
            });
        }
        match self.last.get(&agent) {
            Some((last_seq, _)) if seq != last_seq + 1 => {
                return Err(Broken::Sequence {
                    line: n,
                    seq,
                    expected_after: *last_seq,
                });
            }
            Some((last_seq, last_hash)) if last_hash != chain.prev_hash => {
                return Err(Broken::RunPrevHash {
                    line: n,
                    agent,
                    prev_seq: *last_seq,
                });
            }
            Some(_) => {}
            None if seq == 1 && chain.prev_hash == GENESIS => {}
            None if self.allow_continuation => self.result.continued += 1,
            None => return Err(Broken::Continues { line: n }),
        }
        self.hashes.insert((agent.clone(), seq), hash.to_string());
        self.last.insert(agent, (seq, hash.to_string()));
        self.result.events += 1;
        Ok(())
    }
}
