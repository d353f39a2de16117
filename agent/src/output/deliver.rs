//! The deliverer: every side effect of a delivery, in one place. It writes rendered files (and their
//! `writeToFile` side files) and token sinks, records `output.write` / `output.command` events, and runs
//! post-render commands *beside* the engine's loop: a command that runs long (or hangs until its
//! `command_timeout`) holds up no other output and no renewal. A failed command is retried with backoff
//! without fetching anything again; the engine's loop asks when ([`Deliverer::next_due`]).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use super::FileTarget;
use super::command::{self, CommandError};
use super::failure::{OutputFailure, OutputId, Step};
use super::sink::Sink;
use crate::audit::{Auditor, EventKind, Outcome, OutputMeta, Record, SecretRef};
use crate::backend::BackendError;
use crate::config::FileSinkConfig;
use crate::lease::schedule::Backoff;
use crate::template::SideWrite;

mod files;

/// A template's rendered output, or why it could not be rendered.
pub type Rendered = Result<RenderedFile, OutputFailure>;

/// The rendered `env_template` variables.
pub type EnvMap = BTreeMap<String, Zeroizing<String>>;

/// What a template rendered: its destination's bytes, its `writeToFile` calls, and the secrets it read
/// (named in its `output.write` events).
pub struct RenderedFile {
    /// The destination's bytes.
    pub text: Zeroizing<String>,
    /// The `writeToFile` calls, in call order.
    pub side_writes: Vec<SideWrite>,
    /// The secrets the template read, sorted.
    pub secrets: Vec<SecretRef>,
}

/// The rendered `env_template` variables and the secrets they read (named in `exec.start` /
/// `exec.restart`). No `Debug`: the values are secrets.
#[derive(Clone, Default)]
pub struct RenderedEnv {
    /// The variables.
    pub vars: EnvMap,
    /// The secrets the variables' templates read, sorted.
    pub secrets: Vec<SecretRef>,
}

/// The outcome of one delivery cycle, output by output.
#[derive(Default)]
pub struct Delivery {
    /// Per template file: `Ok(changed)` or why it failed.
    pub files: Vec<Result<bool, OutputFailure>>,
    /// The env vars, when env_templates are configured.
    pub env: Option<Result<RenderedEnv, OutputFailure>>,
    /// Token sinks written in this cycle (only after a new token, or to retry a failed one).
    pub sinks: Vec<Result<(), OutputFailure>>,
}

impl Delivery {
    /// Every failure of this cycle.
    pub fn failures(&self) -> impl Iterator<Item = &OutputFailure> {
        self.files
            .iter()
            .filter_map(|r| r.as_ref().err())
            .chain(self.env.iter().filter_map(|r| r.as_ref().err()))
            .chain(self.sinks.iter().filter_map(|r| r.as_ref().err()))
    }

    /// The failures that may end a run or hold readiness back: all but those of templates with
    /// `error_fatal = false`.
    pub fn fatal_failures(&self) -> impl Iterator<Item = &OutputFailure> {
        self.failures().filter(|f| f.fatal)
    }

    /// Whether any file was (re)written.
    pub fn files_changed(&self) -> bool {
        self.files.iter().any(|r| matches!(r, Ok(true)))
    }
}

/// A destination whose mode or owner was changed from outside got the configured ones back: audited as a
/// write of that destination (its metadata), and logged.
pub(super) fn note_restored(auditor: &Auditor, destination: String, r: super::file::Restored) {
    tracing::warn!(destination = %destination, found = %r, "mode or owner changed from outside: restored the configured ones");
    auditor.record(
        Record::new(EventKind::OutputWrite, Outcome::Success).output(OutputMeta::file(destination)),
    );
}

/// A `template` stanza's output side: where and how its file is written, and what runs after.
pub struct FileOutput {
    /// How errors name it: the source file, or the destination for inline `contents`.
    pub name: String,
    /// Where and how it is written.
    pub target: FileTarget,
    /// `command` run after the file changed.
    pub command: Option<Vec<String>>,
    /// `command_timeout`.
    pub command_timeout: Duration,
    /// `error_fatal`: whether its failures may end the run (see [`OutputFailure::fatal`]).
    pub error_fatal: bool,
    /// `atomic_set`: switched together with the other outputs with it in the same directory.
    pub atomic_set: bool,
}

/// A finished command run, reported back to the loop. Keyed by destination, not position: a reload may
/// reorder the outputs while it runs.
pub struct CommandDone {
    destination: PathBuf,
    result: Result<(), CommandError>,
}

/// Per file: the state of its command.
#[derive(Clone, Copy, Default)]
struct Slot {
    /// A run is under way.
    running: bool,
    /// The file changed again while it ran: run once more when it ends.
    again: bool,
    /// Failed runs in a row, and when to try again.
    retry: Option<(u32, Instant)>,
}

/// Writes outputs and runs their commands (see the module doc).
pub struct Deliverer {
    files: Vec<FileOutput>,
    sinks: Vec<Sink>,
    auditor: Auditor,
    backoff: Backoff,
    /// A one-shot run: a failed command is reported, not retried, as with Vault Agent.
    once: bool,
    slots: Vec<Slot>,
    /// Per destination, the file sidekey last wrote (or found holding the right bytes): the only one whose
    /// mode and owner a refresh puts back.
    written: HashMap<PathBuf, super::file::Inode>,
    done_tx: mpsc::UnboundedSender<CommandDone>,
    done_rx: mpsc::UnboundedReceiver<CommandDone>,
    stop: CancellationToken,
}

impl Deliverer {
    /// A deliverer for `files` and token `sinks`.
    pub fn new(
        files: Vec<FileOutput>,
        sinks: Vec<FileSinkConfig>,
        auditor: Auditor,
        backoff: Backoff,
        once: bool,
    ) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Self {
            slots: vec![Slot::default(); files.len()],
            files,
            sinks: sinks.into_iter().map(Sink::new).collect(),
            auditor,
            backoff,
            once,
            written: HashMap::new(),
            done_tx,
            done_rx,
            stop: CancellationToken::new(),
        }
    }

    /// The file outputs, in config order.
    pub fn files(&self) -> &[FileOutput] {
        &self.files
    }

    /// The sinks that do not hold what `id` names yet (a token or wrapping accessor), with their
    /// `wrap_ttl`: the engine gets their values and hands them to [`Self::write_sink`].
    pub fn sinks_missing(&self, id: &str) -> Vec<(usize, Option<Duration>)> {
        self.sinks
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.holds(id))
            .map(|(i, s)| (i, s.config().wrap_ttl))
            .collect()
    }

    /// Write sink `i` with `value` (what `id` names; or why there is none: wrapping it failed),
    /// encrypted first if the sink says so. Each sink is an output of its own, in the audit trail and
    /// the metrics (the destination, never the value).
    ///
    /// # Errors
    /// The failure; the sink keeps what it held.
    pub fn write_sink(
        &mut self,
        i: usize,
        id: &str,
        value: Result<&[u8], &BackendError>,
    ) -> Result<(), OutputFailure> {
        let Some(sink) = self.sinks.get_mut(i) else {
            return Ok(());
        };
        let path = sink.config().path.clone();
        let r = match value {
            Ok(v) => sink.write(id, v).map(|_| ()).map_err(|m| {
                OutputFailure::permanent(OutputId::Sink(path.clone()), Step::Write, m)
            }),
            Err(e) => Err(OutputFailure {
                transient: e.is_transient(),
                ..OutputFailure::permanent(
                    OutputId::Sink(path.clone()),
                    Step::Fetch("sys/wrapping/wrap".into()),
                    format!("wrapping the token failed: {e}"),
                )
            }),
        };
        let destination = path.display().to_string();
        self.auditor.record(
            Record::result(EventKind::OutputWrite, r.as_ref().err())
                .output(OutputMeta::Sink { destination }),
        );
        if let Err(e) = &r {
            tracing::error!(error = %e, "token sink write failed");
        }
        r
    }

    /// Start file `i`'s command, or have it run once more after the run under way.
    fn start_command(&mut self, i: usize) {
        let (Some(out), Some(slot)) = (self.files.get(i), self.slots.get_mut(i)) else {
            return;
        };
        let Some(argv) = out.command.clone() else {
            return;
        };
        if slot.running {
            slot.again = true;
            return;
        }
        slot.running = true;
        slot.retry = slot.retry.map(|(n, _)| (n, Instant::now()));
        let timeout = out.command_timeout;
        let destination = out.target.path.clone();
        let tx = self.done_tx.clone();
        let stop = self.stop.clone();
        tokio::spawn(async move {
            let result = command::run(&argv, timeout, &stop).await;
            let _ = tx.send(CommandDone {
                destination,
                result,
            });
        });
    }

    /// The next command run that ended. Cancel-safe; pending forever while none runs.
    pub async fn next_done(&mut self) -> CommandDone {
        match self.done_rx.recv().await {
            Some(d) => d,
            // The sender lives in `self`: the channel never closes.
            None => std::future::pending().await,
        }
    }

    /// Act on an ended command: audit it, schedule its retry, or run it again for a newer file.
    pub fn on_done(&mut self, done: CommandDone) {
        let CommandDone {
            destination,
            result,
        } = done;
        let Some(index) = self.files.iter().position(|o| o.target.path == destination) else {
            return; // its template was removed by a reload
        };
        let (Some(out), Some(slot)) = (self.files.get(index), self.slots.get_mut(index)) else {
            return;
        };
        slot.running = false;
        let destination = out.target.path.display().to_string();
        // Every run is in the audit trail, one that sidekey's shutdown ended too; that one is not retried.
        self.auditor.record(
            Record::result(EventKind::OutputCommand, result.as_ref().err())
                .output(OutputMeta::file(destination)),
        );
        self.auditor.flush();
        if let Err(CommandError::Stopped { .. }) = &result {
            return;
        }
        match result {
            Ok(()) => slot.retry = None,
            Err(e) if self.once => {
                tracing::error!(template = %out.name, error = %e, "command failed");
            }
            Err(e) => {
                let attempts = slot.retry.map_or(0, |(n, _)| n + 1);
                let delay = self.backoff.delay(attempts);
                tracing::error!(template = %out.name, error = %e, retry_in = ?delay, "command failed; will retry");
                slot.retry = Some((attempts, Instant::now() + delay));
            }
        }
        if std::mem::take(&mut slot.again) {
            self.start_command(index);
        }
    }

    /// When the next command retry is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter(|s| !s.running)
            .filter_map(|s| s.retry.map(|(_, at)| at))
            .min()
    }

    /// Start the command retries that are due.
    pub fn retry_due(&mut self, now: Instant) {
        let due: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                let s = self.slots[i];
                !s.running && s.retry.is_some_and(|(_, at)| at <= now)
            })
            .collect();
        for i in due {
            self.start_command(i);
        }
    }

    /// Wait until no command runs (a one-shot run ends after its commands).
    pub async fn settle(&mut self) {
        while self.slots.iter().any(|s| s.running) {
            let done = self.next_done().await;
            self.on_done(done);
        }
    }

    /// Stop every command still running (killing its process group) and wait for them.
    pub async fn stop(&mut self) {
        self.stop.cancel();
        self.settle().await;
    }

    /// Take the outputs of a reloaded config: a destination that stays keeps its command's state (a run
    /// under way, a pending retry); new or changed sinks are written at the next delivery; the file of an
    /// output that is gone is removed when `remove_dropped` (`remove_on_exit`).
    pub fn reconfigure(
        &mut self,
        files: Vec<FileOutput>,
        sinks: Vec<FileSinkConfig>,
        backoff: Backoff,
        remove_dropped: bool,
    ) {
        let dropped = self
            .files
            .iter()
            .filter(|o| !files.iter().any(|f| f.target.path == o.target.path));
        for out in dropped.filter(|_| remove_dropped) {
            if let Err(e) = files::remove(out) {
                tracing::warn!(error = %e, "cannot remove the file of a removed template");
            }
        }
        let slots = files
            .iter()
            .map(|f| {
                self.files
                    .iter()
                    .position(|o| o.target.path == f.target.path)
                    .and_then(|i| self.slots.get(i).copied())
                    .unwrap_or_default()
            })
            .collect();
        self.slots = slots;
        self.files = files;
        // A sink that stays as it was keeps what it holds (and an encrypted one its keys).
        let mut old = std::mem::take(&mut self.sinks);
        self.sinks = sinks
            .into_iter()
            .map(|c| match old.iter().position(|s| *s.config() == c) {
                Some(i) => old.swap_remove(i),
                None => Sink::new(c),
            })
            .collect();
        self.backoff = backoff;
    }

    /// `remove_on_exit`: remove every rendered file.
    pub fn remove_files(&self) {
        for out in &self.files {
            if let Err(e) = files::remove(out) {
                tracing::warn!(error = %e, "cannot remove rendered file");
            }
        }
    }
}

#[cfg(test)]
mod tests;
