//! Probes `SO_KPOLL` on a fresh TCP socket and prints the outcome.
//!
//! `kpoll-sockopt get|set [--value V] [--optlen N] [--level L] [--uid U] [--userns U]
//! [--readback]`
//!
//! `set` calls `setsockopt(L, SO_KPOLL)` with the int V (default 1, may be negative), `get` calls
//! `getsockopt(L, SO_KPOLL)`; N is the optlen passed (default 4, at most 8), L a number or `tcp`
//! (`IPPROTO_TCP`), `ip` (`IPPROTO_IP`) or `socket` (`SOL_SOCKET`, the default). With `--uid U`
//! the program drops to uid U after creating the socket. With `--userns U` it drops to uid U,
//! then enters a new user and network namespace in which U is root (as `unshare -Urn` does),
//! and creates the socket there: it has every capability over that namespace, none over the
//! initial one.
//!
//! Prints one line: `ok <value>` (exit 0) or `error <ERRNO>` (exit 1). With `--readback` it then
//! reads `SO_KPOLL` at `SOL_SOCKET` on the same socket and appends ` now=<value>` or
//! ` now=<ERRNO>`, e.g. `ok 1 now=1`, `error EPERM now=0`. Setup failures print
//! `error socket <ERRNO>` / `error setuid <ERRNO>` (exit 1); usage errors exit 2.

use kpoll_tools::{arg_value, errno_name, has_flag, last_errno, parse_arg, SO_KPOLL};
use std::process::exit;

const USAGE: &str = "usage: kpoll-sockopt get|set [--value V] [--optlen N] [--level L] [--uid U] \
                     [--userns U] [--readback]";

/// A socket option level: a number, or `tcp`, `ip`, `socket`.
fn parse_level(s: &str) -> Option<libc::c_int> {
    match s {
        "tcp" => Some(libc::IPPROTO_TCP),
        "ip" => Some(libc::IPPROTO_IP),
        "socket" => Some(libc::SOL_SOCKET),
        _ => s.parse().ok(),
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("kpoll-sockopt: {msg}\n{USAGE}");
    exit(2);
}

/// `getsockopt(SOL_SOCKET, SO_KPOLL)` on `fd`, as ` now=<value>` or ` now=<ERRNO>`.
fn readback(fd: i32) -> String {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes and `len` is the size of `value`.
    let ret = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_KPOLL,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if ret != 0 {
        format!(" now={}", errno_name(last_errno()))
    } else {
        format!(" now={value}")
    }
}

/// Drops to `uid` and enters new user and network namespaces that map it to root. Returns the
/// step that failed and its errno name.
fn enter_user_namespace(uid: libc::uid_t) -> Result<(), String> {
    let failed = |step: &str| format!("{step} {}", errno_name(last_errno()));
    // SAFETY: plain setgid(2)/setuid(2) calls.
    if unsafe { libc::setgid(uid) } != 0 || unsafe { libc::setuid(uid) } != 0 {
        return Err(failed("setuid"));
    }
    // A change of uid makes the process non-dumpable, which leaves its /proc/self files owned
    // by root; the maps below must be written by the process itself.
    // SAFETY: plain prctl(2) call with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) } != 0 {
        return Err(failed("prctl"));
    }
    // SAFETY: plain unshare(2) call.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) } != 0 {
        return Err(failed("unshare"));
    }
    let write =
        |path: &str, text: String| std::fs::write(path, text).map_err(|e| format!("{path} {e}"));
    write("/proc/self/setgroups", "deny".into())?;
    write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    write("/proc/self/gid_map", format!("0 {uid} 1"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let op = args.get(1).map(String::as_str).unwrap_or("");
    if op != "get" && op != "set" {
        usage("the first argument must be get or set");
    }
    let value: libc::c_int = parse_arg(&args, "--value")
        .unwrap_or_else(|e| usage(&e))
        .unwrap_or(1);
    let level = arg_value(&args, "--level").map_or(libc::SOL_SOCKET, |l| {
        parse_level(&l).unwrap_or_else(|| usage(&format!("--level: bad value {l:?}")))
    });
    let optlen: libc::socklen_t = parse_arg(&args, "--optlen")
        .unwrap_or_else(|e| usage(&e))
        .unwrap_or(4);
    let uid: Option<libc::uid_t> = parse_arg(&args, "--uid").unwrap_or_else(|e| usage(&e));
    let want_readback = has_flag(&args, "--readback");
    let userns: Option<libc::uid_t> = parse_arg(&args, "--userns").unwrap_or_else(|e| usage(&e));
    if let Some(uid) = userns {
        if let Err(step) = enter_user_namespace(uid) {
            println!("error {step}");
            exit(1);
        }
    }

    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    if fd < 0 {
        println!("error socket {}", errno_name(last_errno()));
        exit(1);
    }
    if let Some(uid) = uid {
        // SAFETY: plain setuid(2); dropping root also drops CAP_NET_ADMIN.
        if unsafe { libc::setuid(uid) } != 0 {
            println!("error setuid {}", errno_name(last_errno()));
            exit(1);
        }
    }
    let mut buf: [libc::c_int; 2] = [value, 0];
    let ret = if op == "set" {
        // SAFETY: `buf` is valid for `optlen` bytes (at most 8).
        unsafe { libc::setsockopt(fd, level, SO_KPOLL, buf.as_ptr().cast(), optlen.min(8)) }
    } else {
        let mut len: libc::socklen_t = optlen.min(8);
        // SAFETY: `buf` and `len` are valid for writes, `len` is at most the size of `buf`.
        unsafe { libc::getsockopt(fd, level, SO_KPOLL, buf.as_mut_ptr().cast(), &mut len) }
    };
    // Taken before the readback, which makes syscalls of its own.
    let outcome = if ret != 0 {
        format!("error {}", errno_name(last_errno()))
    } else {
        format!("ok {}", buf[0])
    };
    let suffix = if want_readback {
        readback(fd)
    } else {
        String::new()
    };
    println!("{outcome}{suffix}");
    exit(if ret != 0 { 1 } else { 0 });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(parse_level("tcp"), Some(libc::IPPROTO_TCP));
        assert_eq!(parse_level("ip"), Some(libc::IPPROTO_IP));
        assert_eq!(parse_level("socket"), Some(libc::SOL_SOCKET));
        assert_eq!(parse_level("1"), Some(1));
        assert_eq!(parse_level("6"), Some(6));
        assert_eq!(parse_level("-1"), Some(-1));
        assert_eq!(parse_level("udp"), None);
        assert_eq!(parse_level(""), None);
    }

    #[test]
    fn negative_value() {
        let args: Vec<String> = ["kpoll-sockopt", "set", "--value", "-1"]
            .map(String::from)
            .to_vec();
        assert_eq!(parse_arg::<libc::c_int>(&args, "--value"), Ok(Some(-1)));
    }
}
