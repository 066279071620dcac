//! The only code that writes to standard output and standard error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

/// Writes a document to standard output as it is (renderers decide on colour).
pub fn stdout(text: &str) {
    let mut out = anstream::stdout().lock();
    // A closed pipe (`modalplan plan | head`) is not an error worth a panic.
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Writes a message to standard error; colour codes are stripped where the terminal does not want them.
pub fn stderr(text: &str) {
    let mut err = anstream::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Progress of a long command on standard error: a bar with the latest event on a terminal, one plain
/// line per event otherwise (CI logs).
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// A bar of `total` steps when standard error is a terminal.
    pub fn new(total: u64) -> Self {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} [{pos}/{len}] {elapsed} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Self { bar }
    }

    /// One event: printed above the bar, or as a plain line.
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => {
                bar.println(text);
                bar.set_message(text.to_owned());
            }
            None => stderr(&format!("{text}\n")),
        }
    }

    /// One step of `total` is done.
    pub fn advance(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
