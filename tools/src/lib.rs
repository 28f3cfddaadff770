//! Shared bits of kpoll's guest test programs.

/// `SO_KPOLL` from kpoll's kernel patch (`include/uapi/asm-generic/socket.h`).
pub const SO_KPOLL: libc::c_int = 0x4b50;

/// The symbolic name of an errno value, for test output.
pub fn errno_name(errno: i32) -> String {
    match errno {
        libc::EPERM => "EPERM".into(),
        libc::ENOENT => "ENOENT".into(),
        libc::EBADF => "EBADF".into(),
        libc::EAGAIN => "EAGAIN".into(),
        libc::ENOMEM => "ENOMEM".into(),
        libc::EACCES => "EACCES".into(),
        libc::EFAULT => "EFAULT".into(),
        libc::EBUSY => "EBUSY".into(),
        libc::ENODEV => "ENODEV".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::EMFILE => "EMFILE".into(),
        libc::ENOPROTOOPT => "ENOPROTOOPT".into(),
        libc::EOPNOTSUPP => "EOPNOTSUPP".into(),
        libc::EADDRINUSE => "EADDRINUSE".into(),
        other => format!("errno{other}"),
    }
}

/// The last OS error as an errno value.
pub fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Value of `--name VALUE` in `args`, if present.
pub fn arg_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Whether the flag `name` is present in `args`.
pub fn has_flag(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

/// Parsed value of `--name VALUE`: `Ok(None)` if the flag is absent, `Err` with a message if its
/// value is missing or does not parse.
pub fn parse_arg<T: std::str::FromStr>(args: &[String], name: &str) -> Result<Option<T>, String> {
    if !has_flag(args, name) {
        return Ok(None);
    }
    let value = arg_value(args, name).ok_or_else(|| format!("{name} needs a value"))?;
    value
        .parse()
        .map(Some)
        .map_err(|_| format!("{name}: bad value {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(libc::EPERM), "EPERM");
        assert_eq!(errno_name(libc::EOPNOTSUPP), "EOPNOTSUPP");
        assert_eq!(errno_name(libc::EBUSY), "EBUSY");
        assert_eq!(errno_name(libc::ENODEV), "ENODEV");
        assert_eq!(errno_name(libc::ENOENT), "ENOENT");
        assert_eq!(errno_name(4095), "errno4095");
    }

    #[test]
    fn arg_values() {
        let a = args("prog --port 7 --flag --neg -3");
        assert_eq!(arg_value(&a, "--port").as_deref(), Some("7"));
        assert_eq!(arg_value(&a, "--neg").as_deref(), Some("-3"));
        assert_eq!(arg_value(&a, "--missing"), None);
        assert!(has_flag(&a, "--flag"));
        assert!(!has_flag(&a, "--other"));
    }

    #[test]
    fn parsed_args() {
        let a = args("prog --n 5 --neg -3 --bad x --last");
        assert_eq!(parse_arg::<u64>(&a, "--n"), Ok(Some(5)));
        assert_eq!(parse_arg::<i32>(&a, "--neg"), Ok(Some(-3)));
        assert_eq!(parse_arg::<u64>(&a, "--absent"), Ok(None));
        assert!(parse_arg::<u64>(&a, "--bad").is_err());
        assert!(parse_arg::<u64>(&a, "--last").is_err());
    }
}
