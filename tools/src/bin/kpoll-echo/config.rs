//! The command line: which port, how many workers, which fault.

use kpoll_tools::{has_flag, parse_arg};
use std::time::Duration;

pub(crate) const USAGE: &str =
    "usage: kpoll-echo [--port P] [--so-kpoll] [--workers N] [--migrate-ms M] \
                     [--fault stall|reopen-epoll|close-conns|exit [--fault-after N] \
                     [--fault-every N]] [--stall-ms MS] [--stall-until FILE] [--stall-after N]";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultKind {
    Stall,
    ReopenEpoll,
    CloseConns,
    Exit,
}

impl FaultKind {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "stall" => Some(Self::Stall),
            "reopen-epoll" => Some(Self::ReopenEpoll),
            "close-conns" => Some(Self::CloseConns),
            "exit" => Some(Self::Exit),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Stall => "stall",
            Self::ReopenEpoll => "reopen-epoll",
            Self::CloseConns => "close-conns",
            Self::Exit => "exit",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    pub(crate) kind: FaultKind,
    /// Reads before the first fault.
    pub(crate) after: u64,
    /// Further reads before each next fault; `None`: only one fault.
    pub(crate) every: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) port: u16,
    pub(crate) so_kpoll: bool,
    pub(crate) workers: usize,
    pub(crate) migrate: Option<Duration>,
    pub(crate) fault: Option<Fault>,
    pub(crate) stall: Duration,
    /// A stall ends early once this file exists.
    pub(crate) stall_until: Option<String>,
}

pub(crate) fn parse_config(args: &[String]) -> Result<Config, String> {
    let kind = match parse_arg::<String>(args, "--fault")? {
        Some(k) => Some(FaultKind::parse(&k).ok_or_else(|| format!("--fault: bad kind {k:?}"))?),
        None => None,
    };
    let after: Option<u64> = parse_arg(args, "--fault-after")?;
    let every: Option<u64> = parse_arg(args, "--fault-every")?;
    let stall_after: Option<u64> = parse_arg(args, "--stall-after")?;
    let fault = match (kind, stall_after) {
        (Some(_), Some(_)) => return Err("--stall-after and --fault exclude each other".into()),
        (None, Some(_)) if after.is_some() => {
            return Err("--stall-after and --fault-after exclude each other".into())
        }
        (None, Some(n)) => Some(Fault {
            kind: FaultKind::Stall,
            after: n,
            every,
        }),
        (Some(kind), None) => Some(Fault {
            kind,
            after: after.unwrap_or(0),
            every,
        }),
        (None, None) if after.is_some() || every.is_some() => {
            return Err("--fault-after and --fault-every need --fault".into())
        }
        (None, None) => None,
    };
    if every == Some(0) {
        return Err("--fault-every must be at least 1".into());
    }
    let workers = parse_arg(args, "--workers")?.unwrap_or(1);
    if workers == 0 {
        return Err("--workers must be at least 1".into());
    }
    let migrate = match parse_arg::<u64>(args, "--migrate-ms")? {
        Some(0) => return Err("--migrate-ms must be at least 1".into()),
        ms => ms.map(Duration::from_millis),
    };
    Ok(Config {
        port: parse_arg(args, "--port")?.unwrap_or(7777),
        so_kpoll: has_flag(args, "--so-kpoll"),
        workers,
        migrate,
        fault,
        stall: Duration::from_millis(parse_arg(args, "--stall-ms")?.unwrap_or(100)),
        stall_until: parse_arg(args, "--stall-until")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(s: &str) -> Result<Config, String> {
        let args: Vec<String> = std::iter::once("kpoll-echo")
            .chain(s.split_whitespace())
            .map(String::from)
            .collect();
        parse_config(&args)
    }

    #[test]
    fn defaults() {
        let c = cfg("").unwrap();
        assert_eq!(c.port, 7777);
        assert!(!c.so_kpoll);
        assert_eq!(c.workers, 1);
        assert_eq!(c.migrate, None);
        assert_eq!(c.fault, None);
        assert_eq!(c.stall, Duration::from_millis(100));
        assert_eq!(c.stall_until, None);
    }

    #[test]
    fn stall_until() {
        let c = cfg("--stall-after 5 --stall-ms 60000 --stall-until /tmp/go").unwrap();
        assert_eq!(c.stall, Duration::from_millis(60000));
        assert_eq!(c.stall_until.as_deref(), Some("/tmp/go"));
    }

    #[test]
    fn stall_alias() {
        let c = cfg("--port 7003 --so-kpoll --stall-after 3000 --stall-ms 3000").unwrap();
        assert_eq!(c.port, 7003);
        assert!(c.so_kpoll);
        assert_eq!(c.stall, Duration::from_millis(3000));
        let fault = Fault {
            kind: FaultKind::Stall,
            after: 3000,
            every: None,
        };
        assert_eq!(c.fault, Some(fault));
        let same = cfg("--port 7003 --so-kpoll --fault stall --fault-after 3000 --stall-ms 3000");
        assert_eq!(same.unwrap(), c);
    }

    #[test]
    fn faults() {
        let c = cfg("--workers 4 --fault reopen-epoll --fault-after 100 --fault-every 50").unwrap();
        assert_eq!(c.workers, 4);
        let fault = Fault {
            kind: FaultKind::ReopenEpoll,
            after: 100,
            every: Some(50),
        };
        assert_eq!(c.fault, Some(fault));
        assert_eq!(cfg("--fault exit").unwrap().fault.unwrap().after, 0);
        assert_eq!(
            cfg("--fault close-conns").unwrap().fault.unwrap().kind,
            FaultKind::CloseConns
        );
        for kind in ["stall", "reopen-epoll", "close-conns", "exit"] {
            assert_eq!(FaultKind::parse(kind).unwrap().name(), kind);
        }
    }

    #[test]
    fn migrate() {
        let c = cfg("--migrate-ms 20").unwrap();
        assert_eq!(c.migrate, Some(Duration::from_millis(20)));
    }

    #[test]
    fn bad_args() {
        for bad in [
            "--fault nap",
            "--fault",
            "--fault-after 3",
            "--fault-every 3",
            "--fault stall --fault-every 0",
            "--fault exit --stall-after 3",
            "--stall-after 3 --fault-after 4",
            "--workers 0",
            "--workers x",
            "--migrate-ms 0",
            "--port 70000",
            "--stall-after -1",
        ] {
            assert!(cfg(bad).is_err(), "{bad} parsed");
        }
    }
}
