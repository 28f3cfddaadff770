//! Performs raw `write()` calls on a sysctl file, exactly as given, and prints each outcome.
//!
//! `kpoll-sysctl-write [--without-cap-net-admin] [--repeat N] FILE [DATA ...]`
//! `kpoll-sysctl-write --read-until STOP FILE`
//!
//! `--without-cap-net-admin` first drops `CAP_NET_ADMIN` from the effective and permitted
//! sets, so that root writes without it (`error capset <ERRNO>`, exit 1, if that fails).
//!
//! The first form opens FILE for writing (no truncation, no newline added) and calls `write()`
//! once per DATA, in order, on that one file descriptor: `kpoll-sysctl-write F ''` is a single
//! zero-length write, `kpoll-sysctl-write F 11211 22` two writes, the second at offset 5. It
//! prints one line per call, `ok <bytes written>` or `error <ERRNO>`, and exits 0. With
//! `--repeat N` it does all of that N times, each time on a newly opened descriptor (N writers
//! running at once test that writes are serialised).
//!
//! The second form reads FILE with one `pread()` at offset 0 of up to 4096 bytes, again and
//! again, until the file STOP exists (looked for every 32 reads), then prints each distinct result once, in order of first
//! appearance, as `<count> <text>` (the text without its trailing newline) or
//! `<count> error <ERRNO>`, and exits 0. One call per sample means each sample is one handler
//! call's view of the value (a `cat` could splice two values across its reads).
//!
//! A FILE that cannot be opened prints `error open <ERRNO>` (exit 1); usage errors exit 2.

use kpoll_tools::{errno_name, last_errno};
use std::ffi::CString;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::exit;

const USAGE: &str = "usage: kpoll-sysctl-write [--without-cap-net-admin] [--repeat N] FILE \
                     [DATA ...]\n       \
                     kpoll-sysctl-write --read-until STOP FILE";

/// Samples read between two looks for the STOP file.
const STOP_CHECK_EVERY: u32 = 32;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Mode {
    /// `rounds` times: open `file`, write each of `data` in order, close.
    Write {
        file: String,
        data: Vec<String>,
        rounds: u64,
    },
    /// Sample `file` until `stop` exists.
    Read { file: String, stop: String },
}

/// Parses the arguments after the program name.
fn parse_mode(args: &[String]) -> Result<Mode, String> {
    match args.first().map(String::as_str) {
        Some("--read-until") => match args {
            [_, stop, file] => Ok(Mode::Read {
                file: file.clone(),
                stop: stop.clone(),
            }),
            _ => Err("--read-until needs STOP and FILE, nothing else".into()),
        },
        Some("--repeat") => {
            let count = args.get(1).ok_or("--repeat needs a value")?;
            let rounds = count
                .parse()
                .map_err(|_| format!("--repeat: bad value {count:?}"))?;
            let file = args.get(2).ok_or("FILE is missing")?.clone();
            Ok(Mode::Write {
                file,
                data: args[3..].to_vec(),
                rounds,
            })
        }
        Some(file) => Ok(Mode::Write {
            file: file.into(),
            data: args[1..].to_vec(),
            rounds: 1,
        }),
        None => Err("FILE is missing".into()),
    }
}

/// `capget(2)`/`capset(2)`'s header and data (`linux/capability.h`, version 3: two words).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const CAP_NET_ADMIN: u32 = 12;

/// Drops `CAP_NET_ADMIN` from this process's effective and permitted sets.
fn drop_cap_net_admin() -> Result<(), String> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: `header` and `data` are the layouts capget(2) expects for version 3.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return Err(format!("error capget {}", errno_name(last_errno())));
    }
    let bit = !(1u32 << CAP_NET_ADMIN); // in the first word: capabilities 0..32
    data[0].effective &= bit;
    data[0].permitted &= bit;
    // SAFETY: as above, for capset(2).
    if unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) } != 0 {
        return Err(format!("error capset {}", errno_name(last_errno())));
    }
    Ok(())
}

fn usage(msg: &str) -> ! {
    eprintln!("kpoll-sysctl-write: {msg}\n{USAGE}");
    exit(2);
}

/// `open(2)` with `flags`, or the line to print: `error open <ERRNO>`.
fn open(file: &str, flags: libc::c_int) -> Result<libc::c_int, String> {
    let path = CString::new(file).unwrap_or_else(|_| usage("FILE contains a NUL byte"));
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(format!("error open {}", errno_name(last_errno())));
    }
    Ok(fd)
}

/// Prints `line` after what `out` holds and exits 1.
fn fail(out: &mut impl Write, line: &str) -> ! {
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    exit(1);
}

/// One `write()` of all of `data` on `fd`, as `ok <n>` or `error <ERRNO>`.
fn write_once(fd: libc::c_int, data: &[u8]) -> String {
    // SAFETY: `data` is valid for reads of `data.len()` bytes (a zero length is allowed).
    let ret = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    if ret < 0 {
        format!("error {}", errno_name(last_errno()))
    } else {
        format!("ok {ret}")
    }
}

/// One `pread()` at offset 0 on `fd`, as the text read (trailing newline removed) or
/// `error <ERRNO>`.
fn read_once(fd: libc::c_int) -> String {
    let mut buf = [0u8; 4096];
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let ret = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if ret < 0 {
        return format!("error {}", errno_name(last_errno()));
    }
    let text = &buf[..ret as usize];
    String::from_utf8_lossy(text.strip_suffix(b"\n").unwrap_or(text)).into_owned()
}

/// Adds one sample to `(text, count)` pairs kept in order of first appearance.
fn tally(seen: &mut Vec<(String, u64)>, sample: String) {
    match seen.iter_mut().find(|(text, _)| *text == sample) {
        Some((_, count)) => *count += 1,
        None => seen.push((sample, 1)),
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string()
                .unwrap_or_else(|_| usage("arguments must be UTF-8"))
        })
        .collect();
    if args.first().map(String::as_str) == Some("--without-cap-net-admin") {
        args.remove(0);
        if let Err(line) = drop_cap_net_admin() {
            println!("{line}");
            exit(1);
        }
    }
    // Buffered: between the writes or reads under test, this program makes no other syscalls
    // than `open`/`close`, so racing writers and readers spend their time in the handler.
    let mut out = BufWriter::new(std::io::stdout().lock());
    match parse_mode(&args).unwrap_or_else(|e| usage(&e)) {
        Mode::Write { file, data, rounds } => {
            for _ in 0..rounds {
                let fd = open(&file, libc::O_WRONLY).unwrap_or_else(|e| fail(&mut out, &e));
                for text in &data {
                    let _ = writeln!(out, "{}", write_once(fd, text.as_bytes()));
                }
                // SAFETY: `fd` is ours and not used again.
                unsafe { libc::close(fd) };
            }
        }
        Mode::Read { file, stop } => {
            let fd = open(&file, libc::O_RDONLY).unwrap_or_else(|e| fail(&mut out, &e));
            let stop = Path::new(&stop);
            let mut seen = Vec::new();
            // At least one batch of samples, even if STOP already exists; STOP is looked for
            // once per batch.
            loop {
                for _ in 0..STOP_CHECK_EVERY {
                    tally(&mut seen, read_once(fd));
                }
                if stop.exists() {
                    break;
                }
            }
            for (text, count) in seen {
                let _ = writeln!(out, "{count} {text}");
            }
        }
    }
    if out.flush().is_err() {
        exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn write_sequences() {
        assert_eq!(
            parse_mode(&args(&["/f", "", "22"])),
            Ok(Mode::Write {
                file: "/f".into(),
                data: args(&["", "22"]),
                rounds: 1
            })
        );
        assert_eq!(
            parse_mode(&args(&["--repeat", "3", "/f", "--x"])),
            Ok(Mode::Write {
                file: "/f".into(),
                data: args(&["--x"]),
                rounds: 3
            })
        );
        assert!(parse_mode(&args(&["--repeat", "x", "/f"])).is_err());
        assert!(parse_mode(&args(&["--repeat", "3"])).is_err());
        assert!(parse_mode(&args(&[])).is_err());
    }

    #[test]
    fn read_mode() {
        assert_eq!(
            parse_mode(&args(&["--read-until", "/stop", "/f"])),
            Ok(Mode::Read {
                file: "/f".into(),
                stop: "/stop".into()
            })
        );
        assert!(parse_mode(&args(&["--read-until", "/stop"])).is_err());
        assert!(parse_mode(&args(&["--read-until", "/stop", "/f", "x"])).is_err());
    }

    #[test]
    fn tallies_in_first_seen_order() {
        let mut seen = Vec::new();
        for sample in ["b", "a", "b", "b"] {
            tally(&mut seen, sample.into());
        }
        assert_eq!(seen, vec![("b".to_string(), 3), ("a".to_string(), 1)]);
    }

    #[test]
    fn writes_and_reads_a_plain_file() {
        let path = std::env::temp_dir().join(format!("kpoll-sysctl-write-{}", std::process::id()));
        let file = path.to_str().unwrap();
        std::fs::write(&path, b"").unwrap();
        let fd = open(file, libc::O_WRONLY).unwrap();
        assert_eq!(write_once(fd, b""), "ok 0");
        assert_eq!(write_once(fd, b"1 2\n"), "ok 4");
        // SAFETY: `fd` is ours and not used again.
        unsafe { libc::close(fd) };
        let fd = open(file, libc::O_RDONLY).unwrap();
        assert_eq!(read_once(fd), "1 2");
        assert_eq!(read_once(fd), "1 2");
        // SAFETY: as above.
        unsafe { libc::close(fd) };
        std::fs::remove_file(&path).unwrap();
    }
}
