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

/// Splits a list into its non-empty tokens; ASCII whitespace and commas both separate.
pub(super) fn tokens(text: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    text.split(|byte| byte.is_ascii_whitespace() || *byte == b',')
        .filter(|token| !token.is_empty())
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

    /// Appends one byte if there is room for it.
    pub(super) fn byte(&mut self, byte: u8) {
        if let Some(slot) = self.out.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// Appends `value` in decimal.
    pub(super) fn decimal(&mut self, value: u64) {
        // `u64::MAX` has 20 decimal digits.
        let mut digits = [0u8; 20];
        let mut count = 0;
        let mut rest = value;
        loop {
            if let Some(slot) = digits.get_mut(count) {
                // The remainder is below 10, so the cast cannot truncate.
                *slot = b'0' + (rest % 10) as u8;
                count += 1;
            }
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        for &digit in digits.iter().take(count).rev() {
            self.byte(digit);
        }
    }

    /// Returns the number of bytes written so far.
    pub(super) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn tokens_split_on_whitespace_and_commas() {
        let mut found = tokens(b" 1,2  3,\n,4\n");
        assert_eq!(found.next(), Some(&b"1"[..]));
        assert_eq!(found.next(), Some(&b"2"[..]));
        assert_eq!(found.next(), Some(&b"3"[..]));
        assert_eq!(found.next(), Some(&b"4"[..]));
        assert_eq!(found.next(), None);
        assert_eq!(tokens(b"").count(), 0);
        assert_eq!(tokens(b" ,\n").count(), 0);
    }

    #[test]
    fn writer_formats_decimals() {
        let mut buf = [0u8; 32];
        let mut writer = TextWriter::new(&mut buf);
        writer.decimal(0);
        writer.byte(b' ');
        writer.decimal(u64::MAX);
        writer.byte(b'\n');
        let len = writer.len();
        assert_eq!(&buf[..len], b"0 18446744073709551615\n");
    }

    #[test]
    fn writer_truncates_without_overflowing() {
        let mut buf = [0u8; 3];
        let mut writer = TextWriter::new(&mut buf);
        writer.decimal(12345);
        writer.byte(b'\n');
        assert_eq!(writer.len(), 3);
        assert_eq!(&buf, b"123");

        let mut empty = [0u8; 0];
        let mut writer = TextWriter::new(&mut empty);
        writer.decimal(1);
        assert_eq!(writer.len(), 0);
    }
}
