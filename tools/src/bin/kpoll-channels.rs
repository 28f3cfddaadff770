//! Reads or sets a NIC's combined channel count (what `ethtool -l` / `ethtool -L combined`
//! do), through the `SIOCETHTOOL` ioctl.
//!
//! `kpoll-channels IFACE` prints `combined <cur> max <max>`.
//! `kpoll-channels IFACE N` sets the combined channel count to N, reads it back and prints
//! `combined <cur> max <max>`.
//!
//! Failures print `error <ERRNO>` on stdout and exit 1; usage errors exit 2.

use kpoll_tools::{errno_name, last_errno};
use std::process::exit;

const ETHTOOL_GCHANNELS: u32 = 0x3c;
const ETHTOOL_SCHANNELS: u32 = 0x3d;

/// `struct ethtool_channels` from `include/uapi/linux/ethtool.h`.
#[repr(C)]
#[derive(Default)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

/// `struct ifreq` with the `ifr_data` member of its union; padded to at least the kernel's size
/// (the union is 24 bytes on 64-bit), which the kernel copies in whole.
#[repr(C)]
struct Ifreq {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 24 - std::mem::size_of::<*mut libc::c_void>()],
}

/// An interface name as `ifr_name`: NUL-terminated, so at most 15 bytes, no NULs inside.
fn ifname(name: &str) -> Option<[libc::c_char; libc::IFNAMSIZ]> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return None;
    }
    let mut out = [0; libc::IFNAMSIZ];
    for (o, b) in out.iter_mut().zip(name.bytes()) {
        *o = b as libc::c_char;
    }
    Some(out)
}

/// Runs the ethtool command in `ch.cmd` on the interface; the errno on failure.
fn ethtool(
    sock: i32,
    name: [libc::c_char; libc::IFNAMSIZ],
    ch: &mut EthtoolChannels,
) -> Result<(), i32> {
    let mut ifr = Ifreq {
        name,
        data: (ch as *mut EthtoolChannels).cast(),
        _pad: [0; 24 - std::mem::size_of::<*mut libc::c_void>()],
    };
    // SAFETY: `ifr` is a valid ifreq whose data pointer points at `ch`, a valid
    // ethtool_channels that outlives the call.
    if unsafe { libc::ioctl(sock, libc::SIOCETHTOOL as _, &mut ifr) } != 0 {
        return Err(last_errno());
    }
    Ok(())
}

fn get(sock: i32, name: [libc::c_char; libc::IFNAMSIZ]) -> Result<EthtoolChannels, i32> {
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    ethtool(sock, name, &mut ch)?;
    Ok(ch)
}

fn run(
    sock: i32,
    name: [libc::c_char; libc::IFNAMSIZ],
    set: Option<u32>,
) -> Result<EthtoolChannels, i32> {
    if let Some(n) = set {
        let mut ch = get(sock, name)?;
        ch.cmd = ETHTOOL_SCHANNELS;
        ch.combined_count = n;
        ethtool(sock, name, &mut ch)?;
    }
    get(sock, name)
}

fn usage(msg: &str) -> ! {
    eprintln!("kpoll-channels: {msg}\nusage: kpoll-channels IFACE [N]");
    exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 || args.len() > 3 {
        usage("wrong number of arguments");
    }
    let name = ifname(&args[1]).unwrap_or_else(|| usage("bad interface name"));
    let set = args.get(2).map(|n| {
        n.parse::<u32>()
            .unwrap_or_else(|_| usage(&format!("bad channel count {n:?}")))
    });
    // SAFETY: plain socket(2) call.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    if sock < 0 {
        println!("error {}", errno_name(last_errno()));
        exit(1);
    }
    match run(sock, name, set) {
        Ok(ch) => println!("combined {} max {}", ch.combined_count, ch.max_combined),
        Err(errno) => {
            println!("error {}", errno_name(errno));
            exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert_eq!(std::mem::size_of::<EthtoolChannels>(), 36);
        assert!(std::mem::size_of::<Ifreq>() >= 16 + 24);
        assert_eq!(std::mem::offset_of!(Ifreq, data), 16);
    }

    #[test]
    fn ifnames() {
        let n = ifname("eth0").unwrap();
        assert_eq!(
            &n[..5],
            &[b'e' as libc::c_char, b't' as _, b'h' as _, b'0' as _, 0]
        );
        assert!(ifname("").is_none());
        assert!(ifname("fifteen_chars_x").is_some());
        assert!(ifname("sixteen_chars_xx").is_none());
        assert!(ifname("a\0b").is_none());
    }
}
