//! What becomes of the keys of a section that nothing read: refused by name when sidekey does not
//! support them, a warning when Vault Agent skips them harmlessly, else an error — misplaced (a key of
//! another block), a typo (with "did you mean"), or unknown.

use super::Section;
use crate::config::node::{Entry, Problem};
use crate::config::validate::keys::{self, Stray};
use crate::config::values;

/// What becomes of a key nobody read.
enum Leftover {
    /// Loaded with this warning.
    Ignored(Problem),
    /// This error.
    Refused(Problem),
}

impl Section<'_> {
    /// An unread key that looks like a typo of the missing `key`: reporting it beats "required".
    pub(super) fn misspelled(&self, key: &str) -> Option<Problem> {
        self.entries
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .find(|(e, _)| values::closest(&e.key, &[key]).is_some())
            .map(|(e, _)| {
                Problem::new(
                    e.line,
                    format!(
                        "{}: unknown key (did you mean {key:?}?)",
                        self.key_path(&e.key)
                    ),
                )
            })
    }

    /// Check that every key was read. `unsupported` lists Vault Agent keys sidekey knows and refuses, with
    /// a hint for each. Any other leftover key is a warning in the notes when Vault Agent skips it
    /// harmlessly (see `validate::keys`), else an error: misplaced, or unknown (with a "did you mean" among
    /// the known keys).
    pub(crate) fn finish(self, unsupported: &[(&str, &str)]) -> Result<(), Problem> {
        for (entry, used) in self.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            match self.leftover(entry, &self.asked, unsupported) {
                Leftover::Ignored(warning) => self.notes.borrow_mut().push(warning),
                Leftover::Refused(problem) => return Err(problem),
            }
        }
        Ok(())
    }

    /// Report, before reading anything, the first key that is neither in `known` nor in `unsupported` and
    /// would be refused, so that a typo near the top of a file is the first error shown. (Keys that load
    /// with a warning are left to [`Section::finish`], which notes them once.)
    pub(crate) fn check_keys(
        &self,
        known: &[&'static str],
        unsupported: &[(&str, &str)],
    ) -> Result<(), Problem> {
        for entry in self
            .entries
            .iter()
            .filter(|e| !known.contains(&e.key.as_str()))
        {
            if let Leftover::Refused(problem) = self.leftover(entry, known, unsupported) {
                return Err(problem);
            }
        }
        Ok(())
    }

    /// What becomes of a key nobody reads: refused by name when sidekey does not support it; ignored
    /// with a warning when Vault Agent skips it harmlessly; else refused as misplaced, as a typo of a key
    /// in `known`, or as unknown. An exact key of another block is misplaced even when it looks like a
    /// typo of a key here (`min` in a template is a `wait` key, not `uid` misspelled).
    fn leftover(&self, entry: &Entry, known: &[&str], unsupported: &[(&str, &str)]) -> Leftover {
        let key = entry.key.as_str();
        let path = self.key_path(key);
        let problem = |message: String| Problem::new(entry.line, format!("{path}: {message}"));
        if let Some((_, hint)) = unsupported.iter().find(|(k, _)| *k == key) {
            let hint = if hint.is_empty() {
                String::new()
            } else {
                format!(" ({hint})")
            };
            return Leftover::Refused(Problem::new(
                entry.line,
                format!("{path} is not supported by sidekey{hint}"),
            ));
        }
        match keys::stray(&self.kind, key) {
            Some(Stray::Newer(why)) => {
                return Leftover::Ignored(problem(format!(
                    "ignored: a key of newer Vault Agent versions; {why}"
                )));
            }
            Some(Stray::Misplaced {
                places,
                ignored: true,
            }) => {
                return Leftover::Ignored(problem(format!(
                    "misplaced, ignored: {key} belongs {places}; it has no effect here"
                )));
            }
            Some(Stray::Misplaced {
                places,
                ignored: false,
            }) => {
                return Leftover::Refused(problem(format!(
                    "misplaced: {key} belongs {places}; move it there"
                )));
            }
            None => {}
        }
        let suggestion = values::closest(key, known)
            .map(|s| format!(" (did you mean {s:?}?)"))
            .unwrap_or_default();
        Leftover::Refused(problem(format!("unknown key{suggestion}")))
    }
}
