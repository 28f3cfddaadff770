//! Shared bits of kpoll's guest test programs.

/// `SO_KPOLL` from kpoll's kernel patch (`include/uapi/asm-generic/socket.h`).
pub const SO_KPOLL: libc::c_int = 0x4b50;

/// The symbolic name of an errno value, for test output.
pub fn errno_name(errno: i32) -> String {
    match errno {
        libc::EPERM => "EPERM".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::ENOPROTOOPT => "ENOPROTOOPT".into(),
        libc::EFAULT => "EFAULT".into(),
        libc::EACCES => "EACCES".into(),
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
