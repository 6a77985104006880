//! One sink for everything portcullis tells the person running it, on
//! stderr: errors, coverage gaps, plugin failures and logs, warnings, notes,
//! the settle progress line, and the output of a command under `exec`.
//! stdout carries only the requested output (table, JSON, summary).
//!
//! Nothing else in the crate writes to stderr (`clippy::print_stderr` is
//! denied outside this module), so the progress line can be cleared before
//! any other line and tests can capture what a run said.

use std::fmt::Display;
use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::model::{Gap, PluginFailure};

/// Cheap to clone: clones share the one sink.
#[derive(Clone)]
pub struct Diagnostics {
    inner: Arc<Mutex<Sink>>,
}

struct Sink {
    out: Box<dyn Write + Send>,
    /// Progress lines are drawn (a terminal is watching).
    draw_progress: bool,
    /// A progress line is on screen and must be cleared first.
    progress_shown: bool,
}

impl Diagnostics {
    /// The process's stderr; progress is drawn only on a terminal.
    pub fn stderr() -> Diagnostics {
        use std::io::IsTerminal;
        let draw_progress = std::io::stderr().is_terminal();
        Diagnostics::to(Box::new(std::io::stderr()), draw_progress)
    }

    /// A sink that keeps what is said, for tests.
    pub fn capture() -> (Diagnostics, Captured) {
        let captured = Captured::default();
        (Diagnostics::to(Box::new(captured.clone()), false), captured)
    }

    fn to(out: Box<dyn Write + Send>, draw_progress: bool) -> Diagnostics {
        Diagnostics {
            inner: Arc::new(Mutex::new(Sink {
                out,
                draw_progress,
                progress_shown: false,
            })),
        }
    }

    /// Something stopped the run or an output: the exit code says which.
    pub fn error(&self, error: &dyn Display) {
        self.line(format_args!("portcullis: {error}"));
    }

    /// Something could not be looked at.
    pub fn gap(&self, gap: &Gap) {
        match gap.netns {
            Some(n) => self.line(format_args!(
                "portcullis: incomplete in {n}: {}",
                gap.detail
            )),
            None => self.line(format_args!("portcullis: incomplete: {}", gap.detail)),
        }
    }

    /// A plugin whose rules were not evaluated.
    pub fn plugin_failure(&self, failure: &PluginFailure) {
        self.line(format_args!("portcullis: incomplete: {}", failure.message));
    }

    pub fn plugin_log(&self, plugin: &str, line: &str) {
        self.line(format_args!("portcullis: plugin {plugin}: {line}"));
    }

    /// Worth knowing, changes nothing about the result.
    pub fn note(&self, text: &dyn Display) {
        self.line(format_args!("portcullis: {text}"));
    }

    /// Replaces the progress line (drawn only on a terminal); `None` clears it.
    pub fn progress(&self, text: Option<&dyn Display>) {
        let mut sink = self.lock();
        if !sink.draw_progress {
            return;
        }
        let _ = match text {
            Some(text) => write!(sink.out, "\r\x1b[Kportcullis: {text}"),
            None if sink.progress_shown => write!(sink.out, "\r\x1b[K"),
            None => Ok(()),
        };
        sink.progress_shown = text.is_some();
        let _ = sink.out.flush();
    }

    /// Output of a command under `exec`, passed through as it came.
    pub fn passthrough(&self, bytes: &[u8]) {
        let mut sink = self.lock();
        sink.clear_progress();
        let _ = sink.out.write_all(bytes);
    }

    fn line(&self, text: std::fmt::Arguments<'_>) {
        let mut sink = self.lock();
        sink.clear_progress();
        let _ = writeln!(sink.out, "{text}");
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sink> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Sink {
    fn clear_progress(&mut self) {
        if self.progress_shown {
            let _ = write!(self.out, "\r\x1b[K");
            self.progress_shown = false;
        }
    }
}

/// What a [`Diagnostics::capture`] sink was told.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GapKind;

    #[test]
    fn lines_are_prefixed_and_gaps_name_their_namespace() {
        let (diag, said) = Diagnostics::capture();
        diag.error(&"bad policy");
        diag.gap(&Gap {
            kind: GapKind::NetnsNotEnterable,
            netns: Some(crate::model::NetnsId {
                dev: 4,
                inode: 4026532000,
            }),
            pids: vec![],
            detail: "setns: EPERM".into(),
        });
        diag.plugin_log("p", "Warn: hm");
        diag.progress(Some(&"settling"));
        assert_eq!(
            said.text(),
            "portcullis: bad policy\n\
             portcullis: incomplete in net:[4026532000]: setns: EPERM\n\
             portcullis: plugin p: Warn: hm\n"
        );
    }

    #[test]
    fn a_drawn_progress_line_is_cleared_before_the_next_line() {
        let captured = Captured::default();
        let diag = Diagnostics::to(Box::new(captured.clone()), true);
        diag.progress(Some(&"settling: 1"));
        diag.note(&"done");
        diag.progress(None);
        assert_eq!(
            captured.text(),
            "\r\x1b[Kportcullis: settling: 1\r\x1b[Kportcullis: done\n"
        );
    }
}
