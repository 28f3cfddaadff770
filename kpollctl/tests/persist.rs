//! `--persist`: runs the built `kpollctl` against fake roots and checks the files it writes
//! below `etc/` (`etc/sysctl.d/90-kpoll.conf`, `etc/modules-load.d/kpoll.conf`).

use std::{
    fs,
    path::PathBuf,
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
};

const SYSCTL_CONF: &str = "etc/sysctl.d/90-kpoll.conf";
const MODULES_CONF: &str = "etc/modules-load.d/kpoll.conf";

struct Root {
    dir: PathBuf,
}

impl Root {
    /// A root without the module (`loaded` false) or with its four sysctls at the defaults.
    fn new(loaded: bool) -> Root {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kpollctl-persist-cli-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("proc")).unwrap();
        let root = Root { dir };
        if loaded {
            for (knob, value) in [
                ("enabled", "1\n"),
                ("watchdog_us", "10000\n"),
                ("budget", "64\n"),
                ("ports", "\n"),
            ] {
                root.write(&format!("proc/sys/net/kpoll/{knob}"), value);
            }
        }
        root
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.dir.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn read(&self, relative: &str) -> Option<String> {
        fs::read_to_string(self.dir.join(relative)).ok()
    }

    /// The `net.kpoll.*` lines of the sysctl file, or None without the file.
    fn settings(&self) -> Option<Vec<String>> {
        self.read(SYSCTL_CONF).map(|text| {
            text.lines()
                .filter(|line| !line.starts_with('#'))
                .map(str::to_string)
                .collect()
        })
    }

    fn modules(&self) -> Option<Vec<String>> {
        self.read(MODULES_CONF).map(|text| {
            text.lines()
                .filter(|line| !line.starts_with('#'))
                .map(str::to_string)
                .collect()
        })
    }

    /// Runs kpollctl; returns (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_kpollctl"))
            .arg("--root")
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn enable_persist_writes_both_files_and_changes_the_running_module() {
    let root = Root::new(true);
    let (code, out, err) = root.run(&["enable", "--port", "11211", "--persist"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("ports: - -> 11211\npersisted: ports = 11211 ("),
        "{out}"
    );
    assert!(out.contains("kpoll loaded at boot"), "{out}");
    assert_eq!(root.read("proc/sys/net/kpoll/ports").unwrap(), "11211\n");
    assert_eq!(root.settings().unwrap(), ["net.kpoll.ports = 11211"]);
    assert_eq!(root.modules().unwrap(), ["kpoll"]);

    // A second port is added to the file's list, not to the running list only.
    let (code, _, err) = root.run(&["enable", "--port", "8080", "--persist"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(root.settings().unwrap(), ["net.kpoll.ports = 11211 8080"]);
}

#[test]
fn without_persist_nothing_is_written_below_etc() {
    let root = Root::new(true);
    let (code, _, _) = root.run(&["enable", "--port", "11211"]);
    assert_eq!(code, 0);
    assert!(!root.dir.join("etc").exists());
    let (code, _, _) = root.run(&["set", "budget=8"]);
    assert_eq!(code, 0);
    assert!(!root.dir.join("etc").exists());
}

#[test]
fn module_not_loaded_writes_the_files_with_a_note() {
    let root = Root::new(false);
    let (code, out, err) = root.run(&["enable", "--port", "11211", "--persist"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("note: kpoll is not loaded"), "{err}");
    assert!(err.contains("modprobe kpoll"), "{err}");
    assert!(!out.contains("ports: -"), "{out}");
    assert_eq!(root.settings().unwrap(), ["net.kpoll.ports = 11211"]);
    assert_eq!(root.modules().unwrap(), ["kpoll"]);
    // Without --persist that is still the "not loaded" error.
    let (code, _, err) = root.run(&["enable", "--port", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("kpoll is not loaded"), "{err}");
}

#[test]
fn set_persist_adds_knobs_in_a_fixed_order() {
    let root = Root::new(true);
    root.run(&["enable", "--port", "11211", "--persist"]);
    let (code, out, err) = root.run(&["set", "--persist", "budget=8", "watchdog=5000"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("watchdog_us: 10000 -> 5000"), "{out}");
    assert_eq!(
        root.settings().unwrap(),
        [
            "net.kpoll.watchdog_us = 5000",
            "net.kpoll.budget = 8",
            "net.kpoll.ports = 11211"
        ]
    );
    assert_eq!(root.read("proc/sys/net/kpoll/budget").unwrap(), "8\n");
    // `ports=` drops the ports line and keeps the rest.
    let (code, _, _) = root.run(&["set", "ports=", "--persist"]);
    assert_eq!(code, 0);
    assert_eq!(
        root.settings().unwrap(),
        ["net.kpoll.watchdog_us = 5000", "net.kpoll.budget = 8"]
    );
    assert_eq!(root.modules().unwrap(), ["kpoll"]);
}

#[test]
fn disable_persist_removes_both_files() {
    let root = Root::new(true);
    root.run(&["enable", "--port", "11211", "--port", "8080", "--persist"]);
    root.run(&["set", "--persist", "budget=8"]);
    // One port: the other stays.
    let (code, _, _) = root.run(&["disable", "--port", "8080", "--persist"]);
    assert_eq!(code, 0);
    assert_eq!(
        root.settings().unwrap(),
        ["net.kpoll.budget = 8", "net.kpoll.ports = 11211"]
    );
    assert_eq!(root.read("proc/sys/net/kpoll/ports").unwrap(), "11211\n");
    // No port: everything persisted goes, the running list is cleared.
    let (code, out, err) = root.run(&["disable", "--persist"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("persisted: nothing (removed "), "{out}");
    assert_eq!(root.settings(), None);
    assert_eq!(root.modules(), None);
    assert_eq!(root.read("proc/sys/net/kpoll/ports").unwrap(), "\n");
    // Again: nothing to remove is not an error.
    let (code, _, _) = root.run(&["disable", "--persist"]);
    assert_eq!(code, 0);
}

#[test]
fn removing_the_last_persisted_port_removes_both_files() {
    let root = Root::new(false);
    root.run(&["enable", "--port", "11211", "--persist"]);
    let (code, out, _) = root.run(&["disable", "--port", "11211", "--persist"]);
    assert_eq!(code, 0);
    assert!(out.contains("persisted: nothing"), "{out}");
    assert_eq!(root.settings(), None);
    assert_eq!(root.modules(), None);
}

#[test]
fn a_broken_file_is_an_error_and_changes_nothing() {
    let root = Root::new(true);
    root.write(
        SYSCTL_CONF,
        "net.kpoll.ports = 11211\nnet.kpoll.speed = 9\n",
    );
    let (code, _, err) = root.run(&["enable", "--port", "8080", "--persist"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("90-kpoll.conf: line 2: \"net.kpoll.speed\" is not one of kpoll's knobs"),
        "{err}"
    );
    assert!(err.contains("fix or remove the file"), "{err}");
    // Neither the running module nor the files changed.
    assert_eq!(root.read("proc/sys/net/kpoll/ports").unwrap(), "\n");
    assert_eq!(
        root.read(SYSCTL_CONF).unwrap(),
        "net.kpoll.ports = 11211\nnet.kpoll.speed = 9\n"
    );
    assert_eq!(root.modules(), None);
}

#[test]
fn too_many_persisted_ports_is_an_invalid_value() {
    let root = Root::new(false);
    let ports: Vec<String> = (1..=16).map(|p: u16| p.to_string()).collect();
    root.write(
        SYSCTL_CONF,
        &format!("net.kpoll.ports = {}\n", ports.join(" ")),
    );
    let (code, _, err) = root.run(&["enable", "--port", "17", "--persist"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("exceed the limit of 16"), "{err}");
}

#[test]
fn invalid_values_write_nothing() {
    let root = Root::new(true);
    let (code, _, _) = root.run(&["set", "--persist", "watchdog=10"]);
    assert_eq!(code, 2);
    assert!(!root.dir.join("etc").exists());
}
