//! Standard output for the commands. A reader that stops early
//! (`onroll audit list | head`) closes the pipe, and writing then fails
//! (`EPIPE`: Rust ignores SIGPIPE), which `println!` turns into a panic.
//! Here a failed write is remembered and later output skipped: the command
//! still finishes its work (and its audit row) and exits with its own
//! status, quietly, as `ls | head` does. Any other write failure (a full
//! disk) is said once on stderr.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once standard output could not be written.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `args` (and a newline with `newline`) to standard output, unless
/// an earlier write failed.
pub fn write(args: std::fmt::Arguments<'_>, newline: bool) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| if newline { out.write_all(b"\n") } else { Ok(()) })
        .and_then(|()| out.flush());
    if let Err(err) = written {
        CLOSED.store(true, Ordering::Relaxed);
        if err.kind() != ErrorKind::BrokenPipe {
            // Best effort: stderr may be gone too.
            let _ = writeln!(std::io::stderr(), "warning: cannot write to standard output: {err}");
        }
    }
}

/// `println!` for the commands: see the module.
macro_rules! say {
    () => {
        $crate::cli_out::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::cli_out::write(format_args!($($arg)*), true)
    };
}

/// `print!` for the commands: see the module.
macro_rules! say_raw {
    ($($arg:tt)*) => {
        $crate::cli_out::write(format_args!($($arg)*), false)
    };
}

pub(crate) use {say, say_raw};
