//! Reading the kernel's files: `/proc/net/kpoll`, `/proc/interrupts` and the sysfs link that
//! names an interface's parent device. The parsing itself lives in `procfs` and `interrupts`.

use std::{fs, io, time::Instant};

use crate::{
    error::Error,
    interrupts::{self, Interrupts, RxMatcher},
    paths::Paths,
    procfs::{self, Report},
};

/// Everything `status` and one `watch` refresh read, at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub report: Report,
    /// `/proc/interrupts`, or why it could not be read (IRQ counts are then left out).
    pub interrupts: Result<Interrupts, String>,
    pub at: Instant,
}

/// Reads and parses `/proc/net/kpoll`; a missing file means the module is not loaded.
pub fn read_report(paths: &Paths) -> Result<Report, Error> {
    let path = paths.report();
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(source) if source.kind() == io::ErrorKind::NotFound => {
            return Err(Error::NotLoaded { path })
        }
        Err(source) => return Err(Error::Io { path, source }),
    };
    procfs::parse(&text).map_err(|err| Error::Parse {
        path,
        line: err.line,
        message: err.message,
    })
}

/// Reads and parses `/proc/interrupts`.
pub fn read_interrupts(paths: &Paths) -> Result<Interrupts, Error> {
    let path = paths.interrupts();
    let text = fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    interrupts::parse(&text).map_err(|err| Error::Parse {
        path,
        line: err.line,
        message: err.message,
    })
}

/// Reads both files. Only a problem with `/proc/net/kpoll` is an error.
pub fn snapshot(paths: &Paths) -> Result<Snapshot, Error> {
    let report = read_report(paths)?;
    let interrupts = read_interrupts(paths).map_err(|err| err.to_string());
    Ok(Snapshot {
        report,
        interrupts,
        at: Instant::now(),
    })
}

/// The interfaces whose RX IRQs are shown: those given with `--iface`, else the devices named on
/// NAPI lines (in file order, without repeats), else one catch-all entry matching any virtio
/// receive queue.
pub fn matchers(paths: &Paths, report: &Report, ifaces: &[String]) -> Vec<RxMatcher> {
    let mut names: Vec<String> = Vec::new();
    let wanted = if ifaces.is_empty() {
        report
            .napis
            .iter()
            .filter_map(|napi| napi.dev.clone())
            .collect()
    } else {
        ifaces.to_vec()
    };
    for name in wanted {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return vec![RxMatcher::default()];
    }
    names
        .into_iter()
        .map(|name| RxMatcher {
            device: parent_device(paths, &name),
            iface: Some(name),
        })
        .collect()
}

/// The last component of `/sys/class/net/IFACE/device`'s link target (`virtio0`), if any.
fn parent_device(paths: &Paths, iface: &str) -> Option<String> {
    let target = fs::read_link(paths.iface_device(iface)).ok()?;
    Some(target.file_name()?.to_str()?.to_string())
}
