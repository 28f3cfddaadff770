//! memcached text protocol: request encoding and an incremental response parser.
//!
//! The parser is stateless over a byte buffer: `parse` looks at the bytes received so far
//! and either returns one complete response plus how many bytes it used, says more bytes are
//! needed, or reports that the stream is malformed (after which the connection cannot be
//! resynchronised and must be dropped). Callers append what they read and call `parse` again,
//! so TCP segment boundaries may fall anywhere.

use crate::keys;
use std::io::Write;

/// Longest response line we wait for before calling the stream malformed.
pub const MAX_LINE: usize = 2048;

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Op {
    Get,
    Set,
}

/// Append `get <key>\r\n`.
pub fn encode_get(out: &mut Vec<u8>, idx: u64, key_size: usize) {
    out.extend_from_slice(b"get ");
    keys::write_key(out, idx, key_size);
    out.extend_from_slice(b"\r\n");
}

/// Append `set <key> 0 0 <len>\r\n<value>\r\n` with the key's derived value.
pub fn encode_set(out: &mut Vec<u8>, idx: u64, key_size: usize, value_size: usize) {
    out.extend_from_slice(b"set ");
    let key_start = out.len();
    keys::write_key(out, idx, key_size);
    let key_end = out.len();
    // The value is derived from the key bytes just written (keys are at most 250 bytes).
    let mut key = [0u8; 256];
    let key_len = key_end - key_start;
    key[..key_len].copy_from_slice(&out[key_start..key_end]);
    write!(out, " 0 0 {value_size}\r\n").expect("writing to a Vec");
    keys::write_value(out, &key[..key_len], value_size);
    out.extend_from_slice(b"\r\n");
}

/// One complete response.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Response<'a> {
    /// `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\nEND\r\n` (single-key get hit).
    Value {
        key: &'a [u8],
        flags: u32,
        data: &'a [u8],
    },
    /// `END\r\n` (get miss).
    End,
    /// `STORED\r\n`.
    Stored,
    /// Any other well-formed single-line reply (`NOT_STORED`, `EXISTS`, `NOT_FOUND`, `ERROR`,
    /// `CLIENT_ERROR ...`, `SERVER_ERROR ...`), without the CRLF. The stream stays in sync.
    Other(&'a [u8]),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parse<'a> {
    /// A complete response that used this many bytes.
    Done(Response<'a>, usize),
    /// The buffer holds only a prefix of a response: read more.
    Incomplete,
    /// The bytes cannot be a valid response; the reason, for reports.
    Malformed(String),
}

fn find_line(buf: &[u8]) -> Result<Option<usize>, String> {
    // Index of the '\n' ending the first line, which must be preceded by '\r'.
    match buf.iter().position(|&b| b == b'\n') {
        Some(0) => Err("bare LF".into()),
        Some(i) if buf[i - 1] != b'\r' => Err("LF without CR".into()),
        Some(i) => Ok(Some(i)),
        None if buf.len() > MAX_LINE => Err(format!("no line end in {MAX_LINE} bytes")),
        None => Ok(None),
    }
}

fn num<T: std::str::FromStr>(field: &[u8]) -> Option<T> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

pub fn show(bytes: &[u8]) -> String {
    let s: String = bytes
        .iter()
        .take(80)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if bytes.len() > 80 {
        format!("{s}...")
    } else {
        s
    }
}

/// Parse one response from the start of `buf`. `max_value` bounds the data length a `VALUE`
/// header may announce.
pub fn parse(buf: &[u8], max_value: usize) -> Parse<'_> {
    let nl = match find_line(buf) {
        Ok(Some(i)) => i,
        Ok(None) => return Parse::Incomplete,
        Err(e) => return Parse::Malformed(format!("{e}: {}", show(buf))),
    };
    let line = &buf[..nl - 1];
    let used = nl + 1;
    match line {
        b"STORED" => return Parse::Done(Response::Stored, used),
        b"END" => return Parse::Done(Response::End, used),
        b"NOT_STORED" | b"EXISTS" | b"NOT_FOUND" | b"ERROR" => {
            return Parse::Done(Response::Other(line), used)
        }
        _ => {}
    }
    if line.starts_with(b"CLIENT_ERROR") || line.starts_with(b"SERVER_ERROR") {
        return Parse::Done(Response::Other(line), used);
    }
    let Some(rest) = line.strip_prefix(b"VALUE ") else {
        return Parse::Malformed(format!("unknown reply line: {}", show(line)));
    };
    let fields: Vec<&[u8]> = rest.split(|&b| b == b' ').collect();
    if !(3..=4).contains(&fields.len()) || fields[0].is_empty() {
        return Parse::Malformed(format!("bad VALUE line: {}", show(line)));
    }
    let key = fields[0];
    let (Some(flags), Some(len)) = (num::<u32>(fields[1]), num::<usize>(fields[2])) else {
        return Parse::Malformed(format!("bad VALUE line: {}", show(line)));
    };
    if fields.len() == 4 && num::<u64>(fields[3]).is_none() {
        return Parse::Malformed(format!("bad VALUE cas: {}", show(line)));
    }
    if len > max_value {
        return Parse::Malformed(format!("VALUE of {len} bytes exceeds {max_value}"));
    }
    let data_end = used + len;
    let tail = b"\r\nEND\r\n";
    let have = buf.len().saturating_sub(data_end).min(tail.len());
    if buf.len() > data_end && buf[data_end..data_end + have] != tail[..have] {
        return Parse::Malformed(format!(
            "VALUE data of {len} bytes not followed by CRLF END CRLF: {}",
            show(&buf[data_end..data_end + have])
        ));
    }
    if have < tail.len() {
        return Parse::Incomplete;
    }
    Parse::Done(
        Response::Value {
            key,
            flags,
            data: &buf[used..data_end],
        },
        data_end + tail.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq, Clone)]
    enum Owned {
        Value(Vec<u8>, u32, Vec<u8>),
        End,
        Stored,
        Other(Vec<u8>),
        Malformed,
    }

    fn own(r: Response<'_>) -> Owned {
        match r {
            Response::Value { key, flags, data } => Owned::Value(key.into(), flags, data.into()),
            Response::End => Owned::End,
            Response::Stored => Owned::Stored,
            Response::Other(l) => Owned::Other(l.into()),
        }
    }

    /// Feed `chunks` one after another into a receive buffer, parsing after each, exactly as
    /// the event loop does; stop at the first malformed response.
    fn feed<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Owned>, usize) {
        let mut buf = Vec::new();
        let mut start = 0;
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            loop {
                match parse(&buf[start..], 1 << 20) {
                    Parse::Done(r, n) => {
                        out.push(own(r));
                        start += n;
                    }
                    Parse::Incomplete => break,
                    Parse::Malformed(_) => {
                        out.push(Owned::Malformed);
                        return (out, buf.len() - start);
                    }
                }
            }
        }
        (out, buf.len() - start)
    }

    fn stream() -> (Vec<u8>, Vec<Owned>) {
        let mut s = Vec::new();
        let mut want = Vec::new();
        s.extend_from_slice(b"STORED\r\n");
        want.push(Owned::Stored);
        s.extend_from_slice(b"VALUE k0001 0 5\r\nhello\r\nEND\r\n");
        want.push(Owned::Value(b"k0001".to_vec(), 0, b"hello".to_vec()));
        s.extend_from_slice(b"END\r\n");
        want.push(Owned::End);
        // Data containing CR, LF and "END\r\n" must be taken by length, not by scanning.
        s.extend_from_slice(b"VALUE kx 42 9 77\r\nEND\r\n\r\nab\r\nEND\r\n");
        want.push(Owned::Value(b"kx".to_vec(), 42, b"END\r\n\r\nab".to_vec()));
        s.extend_from_slice(b"VALUE e 0 0\r\n\r\nEND\r\n");
        want.push(Owned::Value(b"e".to_vec(), 0, Vec::new()));
        s.extend_from_slice(b"SERVER_ERROR out of memory storing object\r\n");
        want.push(Owned::Other(
            b"SERVER_ERROR out of memory storing object".to_vec(),
        ));
        s.extend_from_slice(b"NOT_STORED\r\nERROR\r\n");
        want.push(Owned::Other(b"NOT_STORED".to_vec()));
        want.push(Owned::Other(b"ERROR".to_vec()));
        let mut big = Vec::new();
        keys::write_value(&mut big, b"k0002", 3000);
        s.extend_from_slice(b"VALUE k0002 0 3000\r\n");
        s.extend_from_slice(&big);
        s.extend_from_slice(b"\r\nEND\r\n");
        want.push(Owned::Value(b"k0002".to_vec(), 0, big));
        s.extend_from_slice(b"STORED\r\n");
        want.push(Owned::Stored);
        (s, want)
    }

    #[test]
    fn whole_stream_parses() {
        let (s, want) = stream();
        let (got, left) = feed([&s[..]]);
        assert_eq!(got, want);
        assert_eq!(left, 0);
    }

    #[test]
    fn split_at_every_offset() {
        let (s, want) = stream();
        for i in 0..=s.len() {
            let (got, left) = feed([&s[..i], &s[i..]]);
            assert_eq!(got, want, "split at {i}");
            assert_eq!(left, 0);
        }
    }

    #[test]
    fn split_at_every_pair_of_offsets_in_a_value() {
        let s: &[u8] = b"VALUE k1 0 4\r\nabcd\r\nEND\r\nSTORED\r\n";
        let want = vec![
            Owned::Value(b"k1".to_vec(), 0, b"abcd".to_vec()),
            Owned::Stored,
        ];
        for i in 0..=s.len() {
            for j in i..=s.len() {
                let (got, left) = feed([&s[..i], &s[i..j], &s[j..]]);
                assert_eq!(got, want, "split at {i},{j}");
                assert_eq!(left, 0);
            }
        }
    }

    #[test]
    fn byte_at_a_time() {
        let (s, want) = stream();
        let (got, left) = feed(s.chunks(1));
        assert_eq!(got, want);
        assert_eq!(left, 0);
    }

    #[test]
    fn incomplete_prefixes_are_incomplete_not_malformed() {
        let (s, _) = stream();
        // Every proper prefix of the first complete response is Incomplete.
        let first = b"VALUE k0001 0 5\r\nhello\r\nEND\r\n";
        for i in 0..first.len() {
            assert_eq!(parse(&first[..i], 1 << 20), Parse::Incomplete, "prefix {i}");
        }
        assert!(matches!(
            parse(&s, 1 << 20),
            Parse::Done(Response::Stored, 8)
        ));
    }

    #[test]
    fn malformed_inputs() {
        let bad: &[&[u8]] = &[
            b"HELLO\r\n",
            b"\n",
            b"STORED\n",
            b"VALUE\r\n",
            b"VALUE k\r\n",
            b"VALUE k 0\r\n",
            b"VALUE k x 5\r\n",
            b"VALUE k 0 -1\r\n",
            b"VALUE k 0 5 1 2\r\n",
            b"VALUE k 0 5 zz\r\n",
            b"VALUE  0 5\r\n",
            b"VALUE k 0 99999999\r\n",
            // Data longer than announced: no CRLF where expected.
            b"VALUE k 0 3\r\nabcd\r\nEND\r\n",
            // Data shorter than announced is caught as soon as END's place is wrong.
            b"VALUE k 0 5\r\nabc\r\nEND\r\n",
            // A second VALUE (multi-get) instead of END.
            b"VALUE k 0 1\r\na\r\nVALUE j 0 1\r\nb\r\nEND\r\n",
            b"VALUE k 0 1\r\na\r\nENX",
        ];
        for b in bad {
            assert!(
                matches!(parse(b, 1 << 20), Parse::Malformed(_)),
                "{:?} -> {:?}",
                show(b),
                parse(b, 1 << 20)
            );
        }
        let long = vec![b'A'; MAX_LINE + 1];
        assert!(matches!(parse(&long, 1 << 20), Parse::Malformed(_)));
        assert_eq!(parse(&long[..MAX_LINE], 1 << 20), Parse::Incomplete);
    }

    #[test]
    fn malformed_is_detected_across_splits_too() {
        let s: &[u8] = b"STORED\r\nVALUE k 0 3\r\nabcdEND\r\n";
        for i in 0..=s.len() {
            let (got, _) = feed([&s[..i], &s[i..]]);
            assert_eq!(got, vec![Owned::Stored, Owned::Malformed], "split at {i}");
        }
    }

    #[test]
    fn encoding() {
        let mut b = Vec::new();
        encode_get(&mut b, 7, 6);
        assert_eq!(b, b"get k00007\r\n");
        b.clear();
        encode_set(&mut b, 7, 6, 10);
        let mut v = Vec::new();
        keys::write_value(&mut v, b"k00007", 10);
        let mut want = b"set k00007 0 0 10\r\n".to_vec();
        want.extend_from_slice(&v);
        want.extend_from_slice(b"\r\n");
        assert_eq!(b, want);
    }
}
