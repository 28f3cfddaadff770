//! Probes `SO_KPOLL` on a fresh TCP socket and prints the outcome.
//!
//! `kpoll-sockopt get|set [--value V] [--optlen N] [--level L] [--uid U]`
//! prints `ok <value>` (exit 0) or `error <ERRNO>` (exit 1).

use kpoll_tools::{arg_value, errno_name, last_errno, SO_KPOLL};
use std::process::exit;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let op = args.get(1).map(String::as_str).unwrap_or("");
    let value: libc::c_int = arg_value(&args, "--value").map_or(1, |v| v.parse().unwrap_or(1));
    let level: libc::c_int =
        arg_value(&args, "--level").map_or(libc::SOL_SOCKET, |v| v.parse().unwrap_or(0));
    let optlen = arg_value(&args, "--optlen").map_or(4, |v| v.parse().unwrap_or(4));
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    if fd < 0 {
        println!("error socket {}", errno_name(last_errno()));
        exit(1);
    }
    if let Some(uid) = arg_value(&args, "--uid").and_then(|u| u.parse::<libc::uid_t>().ok()) {
        // SAFETY: plain setuid(2); dropping root also drops CAP_NET_ADMIN.
        if unsafe { libc::setuid(uid) } != 0 {
            println!("error setuid {}", errno_name(last_errno()));
            exit(1);
        }
    }
    let mut buf: [libc::c_int; 2] = [value, 0];
    let ret = match op {
        // SAFETY: `buf` is valid for `optlen` bytes (at most 8).
        "set" => unsafe {
            libc::setsockopt(fd, level, SO_KPOLL, buf.as_ptr().cast(), optlen.min(8))
        },
        "get" => {
            let mut len: libc::socklen_t = optlen.min(8);
            // SAFETY: `buf` and `len` are valid for writes.
            unsafe { libc::getsockopt(fd, level, SO_KPOLL, buf.as_mut_ptr().cast(), &mut len) }
        }
        _ => {
            eprintln!(
                "usage: kpoll-sockopt get|set [--value V] [--optlen N] [--level L] [--uid U]"
            );
            exit(2);
        }
    };
    if ret != 0 {
        println!("error {}", errno_name(last_errno()));
        exit(1);
    }
    println!("ok {}", buf[0]);
}
