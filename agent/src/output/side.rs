//! consul-template's `writeToFile`: the files a template asks for besides its destination (on by default, as
//! in Vault Agent; `function_denylist = ["writeToFile"]` turns it off). The renderer only records the calls; they are written here, after the
//! destination, with the same rules as a destination (atomic, mode before the first byte, tmpfs unless the
//! template allows otherwise, never through a symlink).
//!
//! Calls on one path are combined in call order: a plain call replaces what came before, an `append` call
//! adds to it. A path whose first call appends starts from the file as it is, and is only written when the
//! template's destination changed: re-rendering the same data must not grow the file (consul-template would
//! append again on every render).

use std::path::Path;

use zeroize::Zeroizing;

use super::deliver::{FileOutput, RenderedFile};
use super::failure::{OutputFailure, OutputId, Step};
use super::{FileTarget, WriteOutcome, file::read_back, write_atomic};
use crate::audit::{Auditor, EventKind, OutputMeta, Record};
use crate::lease::jobs::owner;
use crate::template::SideWrite;
use crate::template::scrub::Scrub;

/// An appended-to file larger than this is refused rather than read back into memory.
const MAX_APPEND_BASE: u64 = 16 << 20;

/// Write every path of `rendered`'s `writeToFile` calls (see the module doc); `destination_changed` says
/// whether the template's own destination was just (re)written. Each write's event names the secrets the
/// template read (any of them may have fed the call) and the keyed hash of the file's bytes.
///
/// # Errors
/// The first failure, naming the template and the path; paths before it are written, the rest are not.
pub(super) fn write_all(
    job: &FileOutput,
    rendered: &RenderedFile,
    destination_changed: bool,
    auditor: &Auditor,
    hide: &dyn Scrub,
) -> Result<(), OutputFailure> {
    let writes: &[SideWrite] = &rendered.side_writes;
    let file = |shown: &str| OutputMeta::file(shown.to_string());
    let mut paths: Vec<&Path> = Vec::new();
    for w in writes {
        if !paths.contains(&w.path.as_path()) {
            paths.push(&w.path);
        }
    }
    for path in paths {
        let calls: Vec<&SideWrite> = writes.iter().filter(|w| w.path == path).collect();
        let Some(last) = calls.last() else { continue };
        let appends_to_existing = calls.first().is_some_and(|w| w.append);
        if appends_to_existing && !destination_changed {
            continue;
        }
        // The path and owner may be built from secret data: what messages and audit events show of them
        // is scrubbed (the file itself is written where the template said).
        let shown = hide.scrub(&path.display().to_string());
        let fail = |message: String| {
            OutputFailure::permanent(
                OutputId::File(job.name.clone()),
                Step::Write,
                format!("writeToFile {shown}: {}", hide.scrub(&message)),
            )
        };
        let mut content = Zeroizing::new(Vec::new());
        if appends_to_existing && let Some(old) = read_back(path, MAX_APPEND_BASE) {
            content.extend_from_slice(&old);
        }
        for w in &calls {
            if !w.append {
                content.clear();
            }
            content.extend_from_slice(w.content.as_bytes());
        }
        let target = FileTarget {
            uid: non_empty(&last.user)
                .map(|u| owner(&shown, "user", Some(u)))
                .transpose()
                .map_err(|e| fail(e.to_string()))?
                .flatten(),
            gid: non_empty(&last.group)
                .map(|g| owner(&shown, "group", Some(g)))
                .transpose()
                .map_err(|e| fail(e.to_string()))?
                .flatten(),
            allow_non_tmpfs: job.target.allow_non_tmpfs,
            ..FileTarget::new(path.to_path_buf(), last.mode)
        };
        match write_atomic(&target, &content) {
            Ok(WriteOutcome::Unchanged) => {}
            Ok(WriteOutcome::Restored(r)) => {
                super::deliver::note_restored(auditor, shown.clone(), r);
            }
            Ok(WriteOutcome::Written) => {
                tracing::info!(template = %job.name, file = %shown, "writeToFile");
                // The buffer just written, whole (with what an append started from).
                let hmac = auditor.content_hmac(&content);
                auditor.record(
                    Record::new(EventKind::OutputWrite, crate::audit::Outcome::Success)
                        .output(file(&shown).delivered(&rendered.secrets, hmac)),
                );
            }
            Err(e) => {
                let error = hide.scrub(&e.to_string());
                auditor.record(
                    Record::result(EventKind::OutputWrite, Some(&error))
                        .output(file(&shown).delivered(&rendered.secrets, None)),
                );
                return Err(fail(error));
            }
        }
    }
    Ok(())
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}
