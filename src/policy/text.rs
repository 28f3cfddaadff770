// SPDX-License-Identifier: GPL-2.0

//! Text conversions shared by the `net.kpoll.*` sysctl knobs.
//!
//! A sysctl write hands the module the raw bytes the user wrote, for example `b"3000\n"` from
//! `echo 3000 > /proc/sys/net/kpoll/watchdog_us`, and a sysctl read wants the current value back
//! as text. Both directions are done here without allocation, into and out of caller-provided
//! byte slices. Everything in this file runs in process context (the sysctl proc handler).
//!
//! The accepted syntax is deliberately narrow: unsigned decimal only, no sign, no `0x`, surrounded
//! by optional ASCII whitespace (so the newline `echo` appends is fine). Anything else is refused
//! with a [`ConfigError`], which the glue maps to `-EINVAL`.

use core::fmt;

/// Why a written value was refused. The glue maps every variant to `-EINVAL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Nothing but whitespace was written where a value is required.
    Empty,
    /// The text is not an unsigned decimal number (a sign, a letter, two numbers, ...).
    NotANumber,
    /// The number does not fit in a `u32`, or is outside the knob's range.
    OutOfRange,
    /// A port appears more than once in a port list.
    Duplicate,
    /// A port list has more than [`MAX_PORTS`](super::ports::MAX_PORTS) entries.
    TooMany,
}

impl fmt::Display for ConfigError {
    /// What is wrong with the value, for a tool's error message (`out of range`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::Empty => "empty",
            ConfigError::NotANumber => "not an unsigned decimal number",
            ConfigError::OutOfRange => "out of range",
            ConfigError::Duplicate => "a port appears twice",
            ConfigError::TooMany => "too many ports",
        })
    }
}

/// Parses one unsigned decimal `u32`, ignoring surrounding ASCII whitespace.
///
/// Returns [`ConfigError::Empty`] for blank text, [`ConfigError::NotANumber`] if anything but
/// digits remains after trimming (this includes `-` and `+`), and [`ConfigError::OutOfRange`] if
/// the value does not fit in a `u32`. Range checks specific to a knob are the caller's job.
pub fn parse_u32(text: &[u8]) -> Result<u32, ConfigError> {
    let digits = trim(text);
    if digits.is_empty() {
        return Err(ConfigError::Empty);
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(ConfigError::NotANumber);
    }
    digits.iter().try_fold(0u32, |value, &digit| {
        value
            .checked_mul(10)
            .and_then(|value| value.checked_add(u32::from(digit - b'0')))
            .ok_or(ConfigError::OutOfRange)
    })
}

/// Returns `text` without leading and trailing ASCII whitespace.
fn trim(text: &[u8]) -> &[u8] {
    let start = text
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|byte| !byte.is_ascii_whitespace())
        .map_or(start, |last| last + 1);
    text.get(start..end).unwrap_or(&[])
}

/// Writes text into a fixed byte buffer, silently dropping whatever does not fit.
///
/// Sysctl reads supply a buffer of their own size; truncated output is better than an error
/// there, and it can never write out of bounds.
pub(super) struct TextWriter<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl<'a> TextWriter<'a> {
    /// Starts writing at the beginning of `out`.
    pub(super) fn new(out: &'a mut [u8]) -> Self {
        Self { out, len: 0 }
    }

    /// Returns the number of bytes written so far.
    pub(super) fn len(&self) -> usize {
        self.len
    }
}

impl fmt::Write for TextWriter<'_> {
    /// Appends as much of `text` as fits; never fails.
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let free = self.out.get_mut(self.len..).unwrap_or(&mut []);
        let count = text.len().min(free.len());
        free[..count].copy_from_slice(&text.as_bytes()[..count]);
        self.len += count;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn parse_u32_accepts_plain_decimal() {
        assert_eq!(parse_u32(b"0"), Ok(0));
        assert_eq!(parse_u32(b"3000"), Ok(3000));
        assert_eq!(parse_u32(b"3000\n"), Ok(3000));
        assert_eq!(parse_u32(b" \t42 \n"), Ok(42));
        assert_eq!(parse_u32(b"007"), Ok(7));
        assert_eq!(parse_u32(b"4294967295"), Ok(u32::MAX));
    }

    #[test]
    fn parse_u32_refuses_everything_else() {
        assert_eq!(parse_u32(b""), Err(ConfigError::Empty));
        assert_eq!(parse_u32(b" \n"), Err(ConfigError::Empty));
        assert_eq!(parse_u32(b"-1"), Err(ConfigError::NotANumber));
        assert_eq!(parse_u32(b"+1"), Err(ConfigError::NotANumber));
        assert_eq!(parse_u32(b"0x10"), Err(ConfigError::NotANumber));
        assert_eq!(parse_u32(b"12a"), Err(ConfigError::NotANumber));
        assert_eq!(parse_u32(b"1 2"), Err(ConfigError::NotANumber));
        assert_eq!(parse_u32(b"1.5"), Err(ConfigError::NotANumber));
        assert_eq!(parse_u32(b"4294967296"), Err(ConfigError::OutOfRange));
        assert_eq!(
            parse_u32(b"99999999999999999999"),
            Err(ConfigError::OutOfRange)
        );
    }

    #[test]
    fn writer_formats() {
        let mut buf = [0u8; 32];
        let mut writer = TextWriter::new(&mut buf);
        writeln!(writer, "0 {}", u64::MAX).unwrap();
        let len = writer.len();
        assert_eq!(&buf[..len], b"0 18446744073709551615\n");
    }

    #[test]
    fn writer_truncates_without_overflowing() {
        let mut buf = [0u8; 3];
        let mut writer = TextWriter::new(&mut buf);
        writeln!(writer, "{}", 12345).unwrap();
        assert_eq!(writer.len(), 3);
        assert_eq!(&buf, b"123");

        let mut empty = [0u8; 0];
        let mut writer = TextWriter::new(&mut empty);
        write!(writer, "1").unwrap();
        assert_eq!(writer.len(), 0);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(ConfigError::OutOfRange.to_string(), "out of range");
        assert_eq!(
            ConfigError::NotANumber.to_string(),
            "not an unsigned decimal number"
        );
    }
}
