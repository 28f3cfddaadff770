//! Persistent opt-in (`--persist`): the two files that make kpoll's settings survive a reboot.
//!
//! | file                               | read at boot by          | holds                     |
//! |------------------------------------|--------------------------|---------------------------|
//! | `/etc/modules-load.d/kpoll.conf`   | `systemd-modules-load`   | `kpoll`: load the module  |
//! | `/etc/sysctl.d/90-kpoll.conf`      | `systemd-sysctl`         | `net.kpoll.KNOB = VALUE`  |
//!
//! `systemd-sysctl.service` runs after `systemd-modules-load.service`, so the knobs exist when
//! the sysctl file is applied. Both files are written together and removed together: the
//! module is loaded at boot exactly when there is something to set. kpollctl owns them; a
//! line it does not understand is an error (nothing is written), not something it guesses
//! about. Files are replaced atomically (written next to the target, then renamed).
//!
//! The pure part ([`parse`], [`render`], [`Settings`]) is unit-tested; [`load`] and [`store`]
//! do the file I/O below `--root`.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use kpoll_policy::{
    knob::{Knob, KnobValue},
    ports::PortList,
};

use crate::{error::Error, knobs, paths::Paths};

const HEADER: &str = "# kpoll's knobs, applied at boot by systemd-sysctl after \
/etc/modules-load.d/kpoll.conf\n# loaded the module. Written by `kpollctl enable|set --persist`; \
`kpollctl disable --persist`\n# removes this file and that one.\n";

const MODULE_LOAD: &str = "# Written by `kpollctl enable|set --persist`: load kpoll at boot \
(its knobs are in\n# /etc/sysctl.d/90-kpoll.conf). `kpollctl disable --persist` removes it.\nkpoll\n";

/// The persisted knob values; a knob that is absent keeps the module's default at boot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// In [`Knob::ALL`] order, the order of the file's lines.
    values: Vec<(Knob, KnobValue)>,
}

impl Settings {
    pub fn get(&self, knob: Knob) -> Option<&KnobValue> {
        self.values.iter().find(|(k, _)| *k == knob).map(|(_, v)| v)
    }

    /// Sets (or, for an empty port list, drops) one knob.
    pub fn set(&mut self, knob: Knob, value: KnobValue) {
        self.values.retain(|(k, _)| *k != knob);
        if value != KnobValue::Ports(PortList::new()) {
            self.values.push((knob, value));
            self.values.sort_by_key(|&(k, _)| k as usize);
        }
    }

    pub fn ports(&self) -> PortList {
        match self.get(Knob::Ports) {
            Some(KnobValue::Ports(ports)) => *ports,
            _ => PortList::new(),
        }
    }

    /// The port list with `add` appended and `remove` taken out, as `kpollctl enable/disable`
    /// change the running list.
    pub fn change_ports(&mut self, add: &[u16], remove: &[u16]) -> Result<(), String> {
        let ports = knobs::merge_ports(self.ports().as_slice(), add, remove)?;
        self.set(Knob::Ports, KnobValue::Ports(ports));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Parses the sysctl file: comments (`#`, `;`), blank lines and `net.kpoll.KNOB = VALUE`
/// lines (also with `/` as separator, as sysctl.d allows). Errors name the line.
pub fn parse(text: &str) -> Result<Settings, String> {
    let mut settings = Settings::default();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let at = |why: String| format!("line {}: {why}", number + 1);
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| at(format!("expected net.kpoll.KNOB = VALUE, found {line:?}")))?;
        let key = key.trim().replace('/', ".");
        let knob = key
            .strip_prefix("net.kpoll.")
            .and_then(|name| Knob::ALL.into_iter().find(|k| k.name() == name))
            .ok_or_else(|| at(format!("{key:?} is not one of kpoll's knobs")))?;
        if settings.get(knob).is_some() {
            return Err(at(format!("{key} is set twice")));
        }
        let value = knobs::parse_value(knob, value.trim()).map_err(at)?;
        settings.set(knob, value);
    }
    Ok(settings)
}

/// The sysctl file's text for `settings`.
pub fn render(settings: &Settings) -> String {
    let mut text = HEADER.to_string();
    for (knob, value) in &settings.values {
        text.push_str(&format!("net.kpoll.{} = {value}\n", knob.name()));
    }
    text
}

/// Reads the persisted settings; no file means none.
pub fn load(paths: &Paths) -> Result<Settings, Error> {
    let path = paths.persisted_sysctls();
    match fs::read_to_string(&path) {
        Ok(text) => parse(&text).map_err(|message| Error::BadKnob {
            path,
            message: format!("{message} (fix or remove the file)"),
        }),
        Err(source) if source.kind() == io::ErrorKind::NotFound => Ok(Settings::default()),
        Err(source) => Err(Error::Io { path, source }),
    }
}

/// What [`store`] did, for the tool's output.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// Both files written (the sysctl file's path).
    Written(PathBuf),
    /// Both files removed (or already absent).
    Removed(PathBuf, PathBuf),
}

/// Writes both files for `settings`, or removes both when there is nothing to set.
pub fn store(paths: &Paths, settings: &Settings) -> Result<Stored, Error> {
    let sysctls = paths.persisted_sysctls();
    let module_load = paths.persisted_module_load();
    if settings.is_empty() {
        remove(&sysctls)?;
        remove(&module_load)?;
        return Ok(Stored::Removed(sysctls, module_load));
    }
    // The module file first: a sysctl file without it would set knobs that do not exist yet.
    replace(&module_load, MODULE_LOAD)?;
    replace(&sysctls, &render(settings))?;
    Ok(Stored::Written(sysctls))
}

fn io_error(path: &Path, source: io::Error) -> Error {
    if source.kind() == io::ErrorKind::PermissionDenied {
        Error::Io {
            path: path.to_path_buf(),
            source: io::Error::new(
                source.kind(),
                "permission denied (--persist writes below /etc: run as root)",
            ),
        }
    } else {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn remove(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Err(source) if source.kind() != io::ErrorKind::NotFound => Err(io_error(path, source)),
        _ => Ok(()),
    }
}

/// Replaces `path` with `text` atomically: a temporary file in the same directory, renamed.
fn replace(path: &Path, text: &str) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|source| io_error(dir, source))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("kpoll");
    let tmp = dir.join(format!(".{name}.kpollctl-{}", std::process::id()));
    let written = fs::File::create(&tmp)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    written.map_err(|source| {
        let _ = fs::remove_file(&tmp);
        io_error(path, source)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(Knob, KnobValue)]) -> Settings {
        let mut s = Settings::default();
        for (k, v) in pairs {
            s.set(*k, *v);
        }
        s
    }

    fn ports(ports: &[u16]) -> KnobValue {
        KnobValue::Ports(knobs::merge_ports(&[], ports, &[]).unwrap())
    }

    #[test]
    fn render_then_parse_round_trips() {
        let s = settings(&[
            (Knob::Ports, ports(&[11211, 8080])),
            (Knob::WatchdogUs, KnobValue::Number(5000)),
        ]);
        let text = render(&s);
        assert!(text.starts_with('#'));
        // Knob order, not insertion order.
        assert!(text.ends_with("net.kpoll.watchdog_us = 5000\nnet.kpoll.ports = 11211 8080\n"));
        assert_eq!(parse(&text), Ok(s));
    }

    #[test]
    fn parses_what_sysctl_d_allows() {
        let s = parse("; c\n\n  net/kpoll/budget=8\nnet.kpoll.enabled = 0 \n").unwrap();
        assert_eq!(s.get(Knob::Budget), Some(&KnobValue::Number(8)));
        assert_eq!(s.get(Knob::Enabled), Some(&KnobValue::Number(0)));
        assert_eq!(s.get(Knob::Ports), None);
        assert_eq!(parse(""), Ok(Settings::default()));
    }

    #[test]
    fn bad_lines_are_errors_naming_the_line() {
        for (text, what) in [
            ("net.kpoll.ports = 0\n", "line 1"),
            (
                "# x\nnet.core.busy_poll = 50\n",
                "line 2: \"net.core.busy_poll\"",
            ),
            ("net.kpoll.budget = 8\nnet.kpoll.budget = 9\n", "set twice"),
            ("kpoll\n", "expected net.kpoll.KNOB = VALUE"),
            ("net.kpoll.watchdog_us = 10\n", "50..=1000000"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(what), "{text:?}: {err}");
        }
    }

    #[test]
    fn empty_port_list_drops_the_line() {
        let mut s = settings(&[(Knob::Ports, ports(&[1]))]);
        s.change_ports(&[], &[1]).unwrap();
        assert!(s.is_empty());
        s.change_ports(&[2, 3], &[]).unwrap();
        s.change_ports(&[3, 4], &[2]).unwrap();
        assert_eq!(s.ports().as_slice(), [3, 4]);
        let full: Vec<u16> = (1..=16).collect();
        let mut s = Settings::default();
        s.change_ports(&full, &[]).unwrap();
        assert!(s.change_ports(&[17], &[]).is_err());
        assert_eq!(s.ports().as_slice().len(), 16);
    }

    fn temp_root(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("kpollctl-persist-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn store_writes_both_files_and_removes_both() {
        let root = temp_root("store");
        let paths = Paths::new(&root);
        assert_eq!(load(&paths).unwrap(), Settings::default());
        let s = settings(&[(Knob::Ports, ports(&[11211]))]);
        assert_eq!(
            store(&paths, &s).unwrap(),
            Stored::Written(paths.persisted_sysctls())
        );
        let module_load = fs::read_to_string(paths.persisted_module_load()).unwrap();
        assert_eq!(
            module_load
                .lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>(),
            ["kpoll"]
        );
        assert_eq!(load(&paths).unwrap(), s);
        // No temporary files are left behind.
        let leftovers: Vec<_> = fs::read_dir(root.join("etc/sysctl.d"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["90-kpoll.conf"]);
        assert!(matches!(
            store(&paths, &Settings::default()).unwrap(),
            Stored::Removed(..)
        ));
        assert!(!paths.persisted_sysctls().exists());
        assert!(!paths.persisted_module_load().exists());
        // Removing what is not there is fine.
        assert!(store(&paths, &Settings::default()).is_ok());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_broken_file_is_an_error_and_stays() {
        let root = temp_root("broken");
        let paths = Paths::new(&root);
        fs::create_dir_all(root.join("etc/sysctl.d")).unwrap();
        fs::write(paths.persisted_sysctls(), "net.kpoll.ports = 80 80\n").unwrap();
        let err = load(&paths).unwrap_err().to_string();
        assert!(err.contains("90-kpoll.conf: line 1"), "{err}");
        assert!(err.contains("fix or remove the file"), "{err}");
        fs::remove_dir_all(&root).unwrap();
    }
}
