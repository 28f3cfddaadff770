//! Before measuring: `set` every key to its derived value over one pipelined blocking
//! connection, so that every `get` of the run can be verified and should hit.

use crate::config::MAX_VALUE_SIZE;
use crate::keys::Sizes;
use crate::proto::{self, Parse, Response};
use crate::stats::{ErrorKind, Stats};
use crate::worker;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

/// Sets sent per batch before reading their replies.
const BATCH: u64 = 256;

/// Append a `set` of each key in `keys` to its derived value, at the length `sizes` gives it
/// (the same lengths the run's sets and get verification use).
pub fn encode_sets(out: &mut Vec<u8>, keys: Range<u64>, sizes: &Sizes) {
    for k in keys {
        proto::encode_set(out, k, sizes.key_size(k), sizes.value_size(k));
    }
}

/// Set keys `0..keys`. Wrong replies are counted in `stats`; I/O failures end the preload.
pub fn preload(addr: &SocketAddr, keys: u64, sizes: &Sizes, stats: &mut Stats) -> io::Result<()> {
    let mut s = worker::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut out = Vec::new();
    let mut rbuf = Vec::new();
    let mut tmp = vec![0u8; 64 * 1024];
    let mut next = 0;
    while next < keys {
        let end = (next + BATCH).min(keys);
        out.clear();
        encode_sets(&mut out, next..end, sizes);
        s.write_all(&out)?;
        let mut want = end - next;
        let mut start = 0;
        while want > 0 {
            match proto::parse(&rbuf[start..], MAX_VALUE_SIZE) {
                Parse::Done(resp, n) => {
                    if resp != Response::Stored {
                        stats.error(ErrorKind::Preload, 1, || {
                            format!("preload set: unexpected reply {resp:?}")
                        });
                    }
                    start += n;
                    want -= 1;
                }
                Parse::Incomplete => {
                    let n = s.read(&mut tmp)?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "server closed the connection during preload",
                        ));
                    }
                    rbuf.extend_from_slice(&tmp[..n]);
                }
                Parse::Malformed(why) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("malformed reply during preload: {why}"),
                    ));
                }
            }
        }
        rbuf.drain(..start);
        next = end;
    }
    Ok(())
}
