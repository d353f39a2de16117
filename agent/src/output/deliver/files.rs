//! The deliverer's file outputs: each written alone or with the other members of its atomic set, their
//! configured mode and owner put back on a refresh, and their removal.

use std::path::PathBuf;

use super::super::failure::{OutputFailure, OutputId, Step};
use super::super::{WriteOutcome, file, set, side};
use super::{Deliverer, FileOutput, Rendered, note_restored};
use crate::audit::{EventKind, Outcome, OutputMeta, Record, SecretRef};
use crate::output::RenderedFile;
use crate::template::scrub::Scrub;

impl Deliverer {
    /// Write every file output from `rendered` (in config order): each alone, or with the other members
    /// of its atomic set. Per output: `Ok(changed)` or why it failed.
    ///
    /// `hide` takes secret values out of what a `writeToFile` path or owner puts in messages and audit
    /// events (a template may build them from secret data).
    pub fn write_files(
        &mut self,
        rendered: Vec<Rendered>,
        hide: &dyn Scrub,
    ) -> Vec<Result<bool, OutputFailure>> {
        let mut sets: Vec<(PathBuf, Vec<usize>)> = Vec::new();
        for (i, out) in self.files.iter().enumerate().take(rendered.len()) {
            if !out.atomic_set {
                continue;
            }
            let dir = set::set_key(&out.target.path);
            match sets.iter_mut().find(|(d, _)| *d == dir) {
                Some((_, s)) => s.push(i),
                None => sets.push((dir, vec![i])),
            }
        }
        let mut results: Vec<Option<Result<bool, OutputFailure>>> =
            rendered.iter().map(|_| None).collect();
        for (_, set) in &sets {
            for (i, r) in self.write_set(set, &rendered, hide) {
                results[i] = Some(r);
            }
        }
        rendered
            .into_iter()
            .zip(results)
            .enumerate()
            .map(|(i, (r, done))| match done {
                Some(done) => done,
                None => r.and_then(|f| self.write_file(i, &f, hide)),
            })
            .collect()
    }

    /// Write the atomic set of outputs `set` (see [`super::set`]) when every member rendered; otherwise
    /// switch nothing, and each member fails (those that rendered: because another did not). Side writes
    /// of members go after the switch.
    fn write_set(
        &mut self,
        set: &[usize],
        rendered: &[Rendered],
        hide: &dyn Scrub,
    ) -> Vec<(usize, Result<bool, OutputFailure>)> {
        let name = |i: usize| self.files[i].name.clone();
        let failed = set
            .iter()
            .find_map(|&i| rendered[i].as_ref().err().map(|e| (i, e.transient)));
        if let Some((bad, transient)) = failed {
            return set
                .iter()
                .map(|&i| {
                    let r = match &rendered[i] {
                        Err(e) => Err(e.clone()),
                        Ok(_) => Err(OutputFailure {
                            transient,
                            ..OutputFailure::permanent(
                                OutputId::File(name(i)),
                                Step::Write,
                                format!(
                                    "atomic_set not switched: template {} of the same set failed",
                                    name(bad)
                                ),
                            )
                        }),
                    };
                    (i, r)
                })
                .collect();
        }
        let members: Vec<set::Member<'_>> = set
            .iter()
            .filter_map(|&i| {
                let f = rendered[i].as_ref().ok()?;
                Some(set::Member {
                    target: &self.files[i].target,
                    bytes: f.text.as_bytes(),
                })
            })
            .collect();
        let outcome = set::write(&members);
        let mut results = Vec::with_capacity(set.len());
        for (k, &i) in set.iter().enumerate() {
            let out = &self.files[i];
            // Every member rendered (checked above).
            let Ok(f) = &rendered[i] else { continue };
            let destination = out.target.path.display().to_string();
            let fail = |m: String| {
                OutputFailure::permanent(OutputId::File(out.name.clone()), Step::Write, m)
            };
            let r = match &outcome {
                Err(e) => {
                    self.auditor.record(
                        Record::result(EventKind::OutputWrite, Some(e))
                            .output(OutputMeta::file(destination).delivered(&f.secrets, None)),
                    );
                    Err(fail(e.to_string()))
                }
                Ok(outcomes) => {
                    let (o, inode) = outcomes
                        .get(k)
                        .copied()
                        .unwrap_or((WriteOutcome::Unchanged, None));
                    if let Some(inode) = inode {
                        self.written.insert(out.target.path.clone(), inode);
                    }
                    // The bytes the set's member was written from (the same buffer).
                    self.note_outcome(destination, o, Some((f.text.as_bytes(), &f.secrets)));
                    let changed = o == WriteOutcome::Written;
                    side::write_all(out, f, changed, &self.auditor, hide).map(|()| changed)
                }
            };
            results.push((i, r));
        }
        for (i, r) in &results {
            if matches!(r, Ok(true)) && self.files[*i].command.is_some() {
                self.start_command(*i);
            }
        }
        results
    }

    /// Put back every file's configured mode and owner that was changed from outside (a refresh brought
    /// nothing new to write). A failure here is left to the next write, which reports it. Returns whether
    /// a file sidekey wrote is gone (deleted from outside): the caller delivers again, which writes it
    /// anew, as consul-template re-creates a missing destination at its next render.
    pub fn recheck(&self) -> bool {
        let mut gone = false;
        for out in &self.files {
            let Some(&written) = self.written.get(&out.target.path) else {
                continue; // nothing written there yet: the next write sets it
            };
            if std::fs::symlink_metadata(&out.target.path)
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
            {
                tracing::warn!(destination = %out.target.path.display(), "deleted from outside: writing it again");
                gone = true;
                continue;
            }
            match file::recheck(&out.target, Some(written)) {
                Ok(o) => self.note_outcome(out.target.path.display().to_string(), o, None),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot check the destination's mode and owner")
                }
            }
        }
        gone
    }

    /// Audit and log what a write did to `destination`; `content` is the bytes it was written with and
    /// the secrets they came from (named, with the bytes' keyed hash, when they were written).
    fn note_outcome(
        &self,
        destination: String,
        outcome: WriteOutcome,
        content: Option<(&[u8], &[SecretRef])>,
    ) {
        match outcome {
            WriteOutcome::Unchanged => {}
            WriteOutcome::Restored(r) => note_restored(&self.auditor, destination, r),
            WriteOutcome::Written => {
                tracing::info!(destination = %destination, "rendered");
                let mut meta = OutputMeta::file(destination);
                if let Some((bytes, secrets)) = content {
                    meta = meta.delivered(secrets, self.auditor.content_hmac(bytes));
                }
                self.auditor
                    .record(Record::new(EventKind::OutputWrite, Outcome::Success).output(meta));
            }
        }
    }

    /// Write file `i` with what its template rendered, and its side writes; start its command when the
    /// file changed.
    ///
    /// # Errors
    /// The write failure (the previous file stays as it was).
    pub fn write_file(
        &mut self,
        i: usize,
        rendered: &RenderedFile,
        hide: &dyn Scrub,
    ) -> Result<bool, OutputFailure> {
        let bytes = rendered.text.as_bytes();
        let Some(out) = self.files.get(i) else {
            return Ok(false);
        };
        let destination = out.target.path.display().to_string();
        let fail =
            |e: String| OutputFailure::permanent(OutputId::File(out.name.clone()), Step::Write, e);
        // `writeToFile` runs while the template renders in consul-template: a side write that fails fails
        // the template, and its destination is not written. So side files go first; whether the
        // destination is about to change decides whether appends happen, as before.
        let will_change = !file::holds(&out.target, bytes);
        side::write_all(out, rendered, will_change, &self.auditor, hide)?;
        let changed = match file::write_known(&out.target, bytes) {
            Ok((o, inode)) => {
                self.written.insert(out.target.path.clone(), inode);
                self.note_outcome(destination, o, Some((bytes, &rendered.secrets)));
                o == WriteOutcome::Written
            }
            Err(e) => {
                self.auditor.record(
                    Record::result(EventKind::OutputWrite, Some(&e))
                        .output(OutputMeta::file(destination).delivered(&rendered.secrets, None)),
                );
                return Err(fail(e.to_string()));
            }
        };
        if changed && out.command.is_some() {
            self.start_command(i);
        }
        Ok(changed)
    }
}

/// Remove `out`'s file: alone, or as a member of its atomic set (the set goes with its last member).
pub(super) fn remove(out: &FileOutput) -> Result<(), file::OutputError> {
    if out.atomic_set {
        set::remove(&out.target.path)
    } else {
        file::remove(&out.target.path)
    }
}
