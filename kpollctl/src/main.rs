//! `kpollctl`: show and change kpoll's state.
//!
//! Command-line parsing and dispatch only; see README.md for the commands, exit codes and the
//! JSON schema.

mod error;
mod interrupts;
mod json;
mod knobs;
mod parse_error;
mod paths;
mod persist;
mod procfs;
mod render;
mod source;
mod status;
#[cfg(test)]
mod test_data;
mod watch;

use std::{
    io::{self, IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use clap::{Parser, Subcommand};
use kpoll_policy::knob::{Knob, KnobValue};

use crate::{
    error::{Error, EXIT_RUNTIME},
    knobs::Sysctls,
    paths::Paths,
};

/// Show and change kpoll: NIC RX queues polled from epoll_wait() with their IRQ held masked.
#[derive(Parser, Debug)]
#[command(name = "kpollctl", version, propagate_version = true)]
#[command(
    after_help = "Exit status: 0 ok, 1 runtime error (module not loaded, I/O, \
                        permission), 2 usage or invalid value."
)]
struct Cli {
    /// Directory that holds proc/ and sys/ (for testing against a fake tree).
    #[arg(long, global = true, value_name = "PATH", default_value = "/")]
    root: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the configuration, per-NAPI counters since load and RX IRQ counts since boot.
    ///
    /// Columns: HOLDS = suspensions (IRQ masked because an application had work), APP_POLLS and
    /// APP_PKTS = NAPI polls and packets from epoll_wait(), PKT/POLL = APP_PKTS / APP_POLLS,
    /// IDLE_END / WD_END = holds ended by the application going idle / by the watchdog, WD% =
    /// WD_END / (IDLE_END + WD_END), HELD_S = seconds the IRQ was held, SVC_POLLS = polls the
    /// watchdog ran on a held queue whose holder was busy outside epoll_wait() (`-` from an older
    /// module). Counters are totals since the module was loaded (the file has no load time, so no
    /// rates: use `kpollctl watch`); the total row includes NAPI entries reclaimed for other
    /// NAPIs. RX IRQs are matched by name in /proc/interrupts (see README.md).
    Status {
        /// Print one JSON document (schema in README.md) instead of tables.
        #[arg(long)]
        json: bool,
        /// Interface whose RX IRQs to count (repeatable; default: the devices of the NAPI lines).
        #[arg(long = "iface", value_name = "IFACE")]
        ifaces: Vec<String>,
    },
    /// Show rates (RX IRQs, polls, packets, watchdog fires, service polls per second; % held),
    /// refreshed.
    Watch {
        /// Seconds between refreshes (fractions allowed, e.g. 0.5).
        #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_interval)]
        interval: Duration,
        /// Stop after N refreshes (default: run until interrupted).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// Print one JSON object per refresh, one per line (schema in README.md).
        #[arg(long)]
        json: bool,
        /// Interface whose RX IRQs to count (repeatable; default: the devices of the NAPI lines).
        #[arg(long = "iface", value_name = "IFACE")]
        ifaces: Vec<String>,
    },
    /// Add local ports to net.kpoll.ports, keeping the ports already there.
    ///
    /// With --persist the ports are also added to /etc/sysctl.d/90-kpoll.conf, and
    /// /etc/modules-load.d/kpoll.conf loads the module at boot; if kpoll is not loaded, only the
    /// files are changed.
    Enable {
        /// Port to add (repeatable, 1..=65535).
        #[arg(long = "port", value_name = "N", required = true,
              value_parser = clap::value_parser!(u16).range(1..))]
        ports: Vec<u16>,
        /// Also keep the change across reboots (files below /etc).
        #[arg(long)]
        persist: bool,
    },
    /// Remove ports from net.kpoll.ports; without --port, clear the list.
    ///
    /// With --persist the ports are also removed from /etc/sysctl.d/90-kpoll.conf; without
    /// --port, or when nothing is left to set, both files kpollctl persists
    /// (/etc/sysctl.d/90-kpoll.conf, /etc/modules-load.d/kpoll.conf) are removed.
    Disable {
        /// Port to remove (repeatable, 1..=65535).
        #[arg(long = "port", value_name = "N",
              value_parser = clap::value_parser!(u16).range(1..))]
        ports: Vec<u16>,
        /// Also keep the change across reboots (files below /etc).
        #[arg(long)]
        persist: bool,
    },
    /// Set knobs: KEY=VALUE ... (--help lists the keys and what each accepts).
    #[command(long_about = knobs::set_help())]
    Set {
        /// One or more KEY=VALUE; all are validated before anything is written.
        #[arg(value_name = "KEY=VALUE", required = true)]
        assignments: Vec<String>,
        /// Also write the values to /etc/sysctl.d/90-kpoll.conf (and load the module at boot).
        #[arg(long)]
        persist: bool,
    },
}

/// Parses `--interval`: a positive, finite number of seconds of at most one day.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(format!(
            "{text:?} must be more than 0 and at most 86400 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Writes `text` to stdout; a closed pipe (`kpollctl status | head -1`) is not an error.
fn print(text: &str) -> Result<(), Error> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(err) if err.kind() != io::ErrorKind::BrokenPipe => Err(Error::Io {
            path: PathBuf::from("<stdout>"),
            source: err,
        }),
        _ => Ok(()),
    }
}

fn cmd_status(paths: &Paths, json: bool, ifaces: &[String]) -> Result<(), Error> {
    let snapshot = source::snapshot(paths)?;
    if let Err(why) = &snapshot.interrupts {
        eprintln!("warning: RX IRQ counts unavailable: {why}");
    }
    let matchers = source::matchers(paths, &snapshot.report, ifaces);
    let view = status::build(
        &snapshot.report,
        snapshot.interrupts.as_ref().ok(),
        &matchers,
    );
    print(&if json {
        json::status(&view)
    } else {
        render::status(&view)
    })
}

fn cmd_watch(
    paths: &Paths,
    interval: Duration,
    count: Option<u64>,
    json: bool,
    ifaces: &[String],
) -> Result<(), Error> {
    let stdout = io::stdout();
    let output = if json {
        watch::Output::Json
    } else {
        watch::Output::Human {
            clear: stdout.is_terminal(),
        }
    };
    let mut out = stdout.lock();
    match watch::run(paths, ifaces, interval, count, output, &mut out) {
        Ok(()) => Ok(()),
        Err(watch::RunError::Read(err)) => Err(err),
        Err(watch::RunError::Write(err)) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(watch::RunError::Write(err)) => Err(Error::Io {
            path: PathBuf::from("<stdout>"),
            source: err,
        }),
    }
}

/// Applies `wanted`, printing one line per knob.
fn apply(sysctls: &Sysctls, wanted: &[(Knob, KnobValue)]) -> Result<(), Error> {
    let mut lines = String::new();
    let result = sysctls.apply(wanted, |change| lines.push_str(&format!("{change}\n")));
    // Print what was changed even when a later write failed.
    print(&lines)?;
    result
}

/// The running module's knobs, or `None` (with a note) when it is not loaded and only the
/// persisted files are to be changed.
fn running(paths: &Paths, persist: bool) -> Result<Option<Sysctls>, Error> {
    match Sysctls::open(paths) {
        Ok(sysctls) => Ok(Some(sysctls)),
        Err(Error::NotLoaded { path }) if persist => {
            eprintln!(
                "note: kpoll is not loaded ({} is missing): the files apply at boot, or now after \
                 `modprobe kpoll` with `sysctl -p {}`",
                path.display(),
                paths.persisted_sysctls().display()
            );
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// Writes (or removes) the persisted files and says what they hold now.
fn store(paths: &Paths, settings: &persist::Settings) -> Result<(), Error> {
    match persist::store(paths, settings)? {
        persist::Stored::Written(sysctls) => {
            let text = persist::render(settings);
            let values: Vec<&str> = text
                .lines()
                .filter_map(|line| line.strip_prefix("net.kpoll."))
                .collect();
            print(&format!(
                "persisted: {} ({}); kpoll loaded at boot ({})\n",
                values.join(", "),
                sysctls.display(),
                paths.persisted_module_load().display()
            ))
        }
        persist::Stored::Removed(sysctls, module_load) => print(&format!(
            "persisted: nothing (removed {} and {})\n",
            sysctls.display(),
            module_load.display()
        )),
    }
}

/// `enable` (`remove` empty), `disable --port` (`add` empty) and `disable` (`remove` None:
/// every port, and with --persist both files).
fn change_ports(
    paths: &Paths,
    add: &[u16],
    remove: Option<&[u16]>,
    persist: bool,
) -> Result<(), Error> {
    // The persisted change is computed (and a broken file reported) before anything changes.
    let persisted = if persist {
        let mut settings = persist::load(paths)?;
        match remove {
            None => settings = persist::Settings::default(),
            Some(remove) => settings.change_ports(add, remove).map_err(Error::Invalid)?,
        }
        Some(settings)
    } else {
        None
    };
    if let Some(sysctls) = running(paths, persist)? {
        let current = sysctls.read_ports()?;
        let current = current.as_slice();
        let remove = remove.unwrap_or(current).to_vec();
        for port in &remove {
            if !current.contains(port) {
                eprintln!("note: port {port} was not in net.kpoll.ports");
            }
        }
        let new = knobs::merge_ports(current, add, &remove).map_err(Error::Invalid)?;
        apply(&sysctls, &[(Knob::Ports, KnobValue::Ports(new))])?;
        if !add.is_empty() && matches!(sysctls.read(Knob::Enabled), Ok(KnobValue::Number(0))) {
            eprintln!("note: net.kpoll.enabled is 0, so kpoll is off (kpollctl set enabled=1)");
        }
    }
    match persisted {
        Some(settings) => store(paths, &settings),
        None => Ok(()),
    }
}

fn set(paths: &Paths, assignments: &[String], persist: bool) -> Result<(), Error> {
    let wanted = knobs::parse_assignments(assignments).map_err(Error::Invalid)?;
    let persisted = if persist {
        let mut settings = persist::load(paths)?;
        for (knob, value) in &wanted {
            settings.set(*knob, *value);
        }
        Some(settings)
    } else {
        None
    };
    if let Some(sysctls) = running(paths, persist)? {
        apply(&sysctls, &wanted)?;
    }
    match persisted {
        Some(settings) => store(paths, &settings),
        None => Ok(()),
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    let paths = Paths::new(cli.root);
    match cli.command {
        Command::Status { json, ifaces } => cmd_status(&paths, json, &ifaces),
        Command::Watch {
            interval,
            count,
            json,
            ifaces,
        } => cmd_watch(&paths, interval, count, json, &ifaces),
        Command::Enable { ports, persist } => change_ports(&paths, &ports, Some(&[]), persist),
        Command::Disable { ports, persist } => change_ports(
            &paths,
            &[],
            (!ports.is_empty()).then_some(&ports[..]),
            persist,
        ),
        Command::Set {
            assignments,
            persist,
        } => set(&paths, &assignments, persist),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kpollctl: error: {err}");
            let code = u8::try_from(err.exit_code()).unwrap_or(EXIT_RUNTIME as u8);
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("0.1"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_interval("2"), Ok(Duration::from_secs(2)));
        for bad in ["0", "-1", "abc", "inf", "NaN", "100000"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_commands() {
        let cli = Cli::try_parse_from([
            "kpollctl", "--root", "/tmp/x", "enable", "--port", "1", "--port", "2",
        ])
        .unwrap();
        assert_eq!(cli.root, PathBuf::from("/tmp/x"));
        assert!(
            matches!(cli.command, Command::Enable { ref ports, persist: false } if ports == &[1, 2])
        );
        let cli = Cli::try_parse_from(["kpollctl", "enable", "--port", "1", "--persist"]).unwrap();
        assert!(matches!(cli.command, Command::Enable { persist: true, .. }));
        let cli = Cli::try_parse_from(["kpollctl", "set", "--persist", "budget=8"]).unwrap();
        assert!(matches!(cli.command, Command::Set { persist: true, .. }));
        let cli = Cli::try_parse_from(["kpollctl", "status", "--json", "--root", "/r"]).unwrap();
        assert_eq!(cli.root, PathBuf::from("/r"));
        assert!(Cli::try_parse_from(["kpollctl", "enable"]).is_err());
        assert!(Cli::try_parse_from(["kpollctl", "enable", "--port", "0"]).is_err());
        assert!(Cli::try_parse_from(["kpollctl", "enable", "--port", "65536"]).is_err());
        assert!(Cli::try_parse_from(["kpollctl", "set"]).is_err());
        assert!(Cli::try_parse_from(["kpollctl", "watch", "--count", "0"]).is_err());
        let cli = Cli::try_parse_from(["kpollctl", "disable"]).unwrap();
        assert!(matches!(cli.command, Command::Disable { ref ports, .. } if ports.is_empty()));
    }
}
