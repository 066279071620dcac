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
