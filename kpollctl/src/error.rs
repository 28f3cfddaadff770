//! The tool's error type and its mapping to exit codes.
//!
//! Exit codes: 0 success, 1 runtime error (module not loaded, I/O, permission, malformed kernel
//! output), 2 usage or validation error (clap's own usage errors also exit 2).

use std::{fmt, io, path::PathBuf};

/// Exit code for runtime errors.
pub const EXIT_RUNTIME: i32 = 1;
/// Exit code for usage and validation errors.
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug)]
pub enum Error {
    /// A file or directory the module creates is missing.
    NotLoaded { path: PathBuf },
    /// A sysctl write was refused with EACCES/EPERM.
    Permission { path: PathBuf },
    /// Any other I/O failure.
    Io { path: PathBuf, source: io::Error },
    /// A kernel file did not have the expected format.
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A sysctl holds text the tool does not understand.
    BadKnob { path: PathBuf, message: String },
    /// A value given on the command line is invalid (exit 2).
    Invalid(String),
    /// The kernel refused a value with EINVAL although it passed our checks (exit 2).
    Rejected { path: PathBuf, value: String },
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::Rejected { .. } => EXIT_USAGE,
            _ => EXIT_RUNTIME,
        }
    }

    /// Maps an I/O error on `path` (a sysctl being written) to the most helpful variant.
    pub fn from_write(path: PathBuf, value: &str, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::PermissionDenied => Error::Permission { path },
            io::ErrorKind::InvalidInput => Error::Rejected {
                path,
                value: value.to_string(),
            },
            _ => Error::Io { path, source },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotLoaded { path } => write!(
                f,
                "kpoll is not loaded: {} is missing (insmod kpoll.ko)",
                path.display()
            ),
            Error::Permission { path } => write!(
                f,
                "need root (CAP_SYS_ADMIN) to change net.kpoll.* ({}: permission denied)",
                path.display()
            ),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Parse {
                path,
                line,
                message,
            } => write!(f, "{} line {line}: {message}", path.display()),
            Error::BadKnob { path, message } => write!(f, "{}: {message}", path.display()),
            Error::Invalid(message) => f.write_str(message),
            Error::Rejected { path, value } => write!(
                f,
                "the kernel refused {value:?} for {} (EINVAL)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_errors_map_to_clear_messages() {
        let path = PathBuf::from("/proc/sys/net/kpoll/budget");
        let denied = Error::from_write(path.clone(), "5", io::Error::from_raw_os_error(13));
        assert_eq!(denied.exit_code(), EXIT_RUNTIME);
        assert!(denied
            .to_string()
            .starts_with("need root (CAP_SYS_ADMIN) to change net.kpoll.*"));
        let eperm = Error::from_write(path.clone(), "5", io::Error::from_raw_os_error(1));
        assert!(matches!(eperm, Error::Permission { .. }));
        let einval = Error::from_write(path.clone(), "5", io::Error::from_raw_os_error(22));
        assert_eq!(einval.exit_code(), EXIT_USAGE);
        let eio = Error::from_write(path, "5", io::Error::from_raw_os_error(5));
        assert_eq!(eio.exit_code(), EXIT_RUNTIME);
    }

    #[test]
    fn not_loaded_message() {
        let err = Error::NotLoaded {
            path: PathBuf::from("/proc/sys/net/kpoll"),
        };
        assert_eq!(
            err.to_string(),
            "kpoll is not loaded: /proc/sys/net/kpoll is missing (insmod kpoll.ko)"
        );
    }
}
