//! Runs the built `kpollctl` binary against fake `/proc` trees in temporary directories.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::atomic::{AtomicUsize, Ordering},
};

use serde_json::Value;

/// A fake root directory, removed on drop.
struct FakeRoot {
    dir: PathBuf,
}

fn sample(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/kpollctl")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl FakeRoot {
    /// An empty root: the module is not loaded and there is no /proc/interrupts.
    fn empty() -> FakeRoot {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kpollctl-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("proc")).unwrap();
        FakeRoot { dir }
    }

    /// A root with the module loaded: `/proc/net/kpoll` from `report`, default sysctls and
    /// `/proc/interrupts` from `interrupts_2cpu.txt`.
    fn loaded(report: &str) -> FakeRoot {
        let root = FakeRoot::empty();
        root.write("proc/net/kpoll", &sample(report));
        root.write("proc/interrupts", &sample("interrupts_2cpu.txt"));
        root.write("proc/sys/net/kpoll/enabled", "1\n");
        root.write("proc/sys/net/kpoll/watchdog_us", "10000\n");
        root.write("proc/sys/net/kpoll/budget", "64\n");
        root.write("proc/sys/net/kpoll/ports", "\n");
        root
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.path(relative)).unwrap()
    }

    fn knobs(&self) -> [String; 4] {
        ["enabled", "watchdog_us", "budget", "ports"]
            .map(|knob| self.read(&format!("proc/sys/net/kpoll/{knob}")))
    }

    fn run(&self, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_kpollctl"))
            .arg("--root")
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap();
        Run::from(output)
    }
}

impl Drop for FakeRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }
}

impl Run {
    fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

#[test]
fn status_human() {
    let root = FakeRoot::loaded("proc_net_kpoll_busy.txt");
    let run = root.run(&["status"]).expect(0);
    assert!(run.stdout.starts_with(
        "kpoll  enabled=1 watchdog_us=10000 budget=64 napis=2 reclaimed=0 untracked=0 ports=11211\n"
    ));
    assert!(run.stdout.contains(
        "8193   eth0    -  held    1742     263115   4168620      15.8      1739       2  0.1  49.895          3\n"
    ));
    assert!(run.stdout.contains("eth0    25  virtio0-input.0  21343\n"));
    assert!(run.stdout.contains("eth0     -  total            51878\n"));
    assert!(!run.stdout.contains("output"));
    assert!(!run.stdout.contains('\x1b'));
    assert_eq!(run.stderr, "");
}

#[test]
fn status_json() {
    let root = FakeRoot::loaded("proc_net_kpoll_ports.txt");
    let run = root.run(&["status", "--json"]).expect(0);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["config"]["enabled"], false);
    assert_eq!(doc["config"]["watchdog_us"], 5000);
    assert_eq!(doc["config"]["budget"], 128);
    assert_eq!(doc["config"]["ports"], serde_json::json!([11211, 8080]));
    assert_eq!(doc["config"]["napis"], 2);
    assert_eq!(doc["config"]["reclaimed"], 1);
    assert_eq!(doc["config"]["untracked"], 0);
    let napis = doc["napis"].as_array().unwrap();
    assert_eq!(napis.len(), 2);
    assert_eq!(napis[0]["napi_id"], 8193);
    assert_eq!(napis[0]["irq"], 25);
    assert_eq!(napis[0]["irq_count"], 20931 + 412);
    assert_eq!(napis[0]["counters"]["app_packets"], 41686);
    assert_eq!(napis[1]["dev"], Value::Null);
    assert_eq!(napis[1]["state"], "gone");
    assert_eq!(napis[1]["counters"]["service_polls"], 2);
    // The total includes the counters of the reclaimed entry.
    assert_eq!(doc["total"]["held_us"], 5309561);
    assert_eq!(doc["total"]["service_polls"], 3);
    let iface = &doc["interfaces"][0];
    assert_eq!(iface["name"], "eth0");
    assert_eq!(iface["rx_irqs"], 20931 + 412 + 118 + 30417);
    assert_eq!(iface["irqs"][1]["name"], "virtio0-input.1");
    assert_eq!(iface["irqs"][1]["per_cpu"], serde_json::json!([118, 30417]));
}

#[test]
fn status_idle_with_iface_option() {
    let root = FakeRoot::loaded("proc_net_kpoll_idle.txt");
    let run = root.run(&["status", "--json", "--iface", "eth0"]).expect(0);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["napis"], serde_json::json!([]));
    assert_eq!(doc["interfaces"][0]["name"], "eth0");
    assert_eq!(doc["interfaces"][0]["irqs"].as_array().unwrap().len(), 2);
    let run = root.run(&["status"]).expect(0);
    assert!(run.stdout.contains("(no NAPI instance has been held yet)"));
    assert!(
        run.stdout.contains("*       25  virtio0-input.0"),
        "{}",
        run.stdout
    );
}

#[test]
fn status_without_proc_interrupts_warns() {
    let root = FakeRoot::loaded("proc_net_kpoll_busy.txt");
    fs::remove_file(root.path("proc/interrupts")).unwrap();
    let run = root.run(&["status", "--json"]).expect(0);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["interfaces"], Value::Null);
    assert!(run.stderr.contains("warning: RX IRQ counts unavailable"));
}

#[test]
fn enable_adds_ports() {
    let root = FakeRoot::loaded("proc_net_kpoll_idle.txt");
    let run = root.run(&["enable", "--port", "11211"]).expect(0);
    assert_eq!(run.stdout, "ports: - -> 11211\n");
    assert_eq!(root.read("proc/sys/net/kpoll/ports"), "11211\n");

    let run = root
        .run(&[
            "enable", "--port", "8080", "--port", "11211", "--port", "8080",
        ])
        .expect(0);
    assert_eq!(run.stdout, "ports: 11211 -> 11211 8080\n");
    assert_eq!(root.read("proc/sys/net/kpoll/ports"), "11211 8080\n");

    let run = root.run(&["enable", "--port", "8080"]).expect(0);
    assert_eq!(run.stdout, "ports: 11211 8080 (unchanged)\n");
}

#[test]
fn enable_usage_errors() {
    let root = FakeRoot::loaded("proc_net_kpoll_idle.txt");
    root.run(&["enable"]).expect(2);
    root.run(&["enable", "--port", "0"]).expect(2);
    root.run(&["enable", "--port", "70000"]).expect(2);
    let full: Vec<String> = (1..=16).map(|port: u16| port.to_string()).collect();
    root.write("proc/sys/net/kpoll/ports", &format!("{}\n", full.join(" ")));
    let run = root.run(&["enable", "--port", "17"]).expect(2);
    assert!(run.stderr.contains("16"), "{}", run.stderr);
    assert_eq!(
        root.read("proc/sys/net/kpoll/ports"),
        format!("{}\n", full.join(" "))
    );
}

#[test]
fn enable_notes_when_kpoll_is_off() {
    let root = FakeRoot::loaded("proc_net_kpoll_idle.txt");
    root.write("proc/sys/net/kpoll/enabled", "0\n");
    let run = root.run(&["enable", "--port", "80"]).expect(0);
    assert!(
        run.stderr.contains("net.kpoll.enabled is 0"),
        "{}",
        run.stderr
    );
}

#[test]
fn disable_removes_or_clears() {
    let root = FakeRoot::loaded("proc_net_kpoll_idle.txt");
    root.write("proc/sys/net/kpoll/ports", "11211 8080 9000\n");
    let run = root.run(&["disable", "--port", "8080"]).expect(0);
    assert_eq!(run.stdout, "ports: 11211 8080 9000 -> 11211 9000\n");
    assert_eq!(root.read("proc/sys/net/kpoll/ports"), "11211 9000\n");

    let run = root.run(&["disable", "--port", "5"]).expect(0);
    assert_eq!(run.stdout, "ports: 11211 9000 (unchanged)\n");
    assert!(run.stderr.contains("port 5 was not in net.kpoll.ports"));

    let run = root.run(&["disable"]).expect(0);
    assert_eq!(run.stdout, "ports: 11211 9000 -> -\n");
    assert_eq!(root.read("proc/sys/net/kpoll/ports"), "\n");
}

#[test]
fn set_writes_and_prints_changes() {
    let root = FakeRoot::loaded("proc_net_kpoll_idle.txt");
    let run = root
        .run(&["set", "watchdog=5000", "budget=64", "enabled=0"])
        .expect(0);
    assert_eq!(
        run.stdout,
        "watchdog_us: 10000 -> 5000\nbudget: 64 (unchanged)\nenabled: 1 -> 0\n"
    );
    assert_eq!(
        root.knobs(),
        ["0\n", "5000\n", "64\n", "\n"].map(String::from)
    );
    let run = root.run(&["set", "ports=11211,8080"]).expect(0);
    assert_eq!(run.stdout, "ports: - -> 11211 8080\n");
    assert_eq!(root.read("proc/sys/net/kpoll/ports"), "11211 8080\n");
}

#[test]
fn set_out_of_range_changes_nothing() {
    let root = FakeRoot::loaded("proc_net_kpoll_idle.txt");
    let before = root.knobs();
    let run = root.run(&["set", "watchdog=20"]).expect(2);
    assert!(run.stderr.contains("watchdog_us"), "{}", run.stderr);
    assert!(run.stderr.contains("50..=1000000"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(root.knobs(), before);

    // A valid value before an invalid one is not written either.
    root.run(&["set", "budget=32", "watchdog=2000000"])
        .expect(2);
    assert_eq!(root.knobs(), before);
}

#[test]
fn set_invalid_values_exit_2() {
    let root = FakeRoot::loaded("proc_net_kpoll_idle.txt");
    let before = root.knobs();
    let run = root.run(&["set", "budget=abc"]).expect(2);
    assert!(run.stderr.contains("budget"), "{}", run.stderr);
    assert!(run.stderr.contains("1..=1024"), "{}", run.stderr);
    root.run(&["set", "enabled=2"]).expect(2);
    root.run(&["set", "budget=-1"]).expect(2);
    root.run(&["set", "speed=9"]).expect(2);
    root.run(&["set", "budget"]).expect(2);
    root.run(&["set", "budget=1", "budget=2"]).expect(2);
    root.run(&["set"]).expect(2);
    assert_eq!(root.knobs(), before);
}

#[test]
fn module_not_loaded_exits_1() {
    let root = FakeRoot::empty();
    let dir = root.dir.display().to_string();
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["watch", "--count", "1", "--interval", "0.1"],
    ] {
        let run = root.run(args).expect(1);
        assert!(
            run.stderr.contains(&format!(
                "kpoll is not loaded: {dir}/proc/net/kpoll is missing (insmod kpoll.ko)"
            )),
            "{}",
            run.stderr
        );
    }
    for args in [
        &["set", "budget=8"][..],
        &["enable", "--port", "80"],
        &["disable"],
    ] {
        let run = root.run(args).expect(1);
        assert!(
            run.stderr.contains(&format!(
                "kpoll is not loaded: {dir}/proc/sys/net/kpoll is missing (insmod kpoll.ko)"
            )),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn watch_prints_count_blocks() {
    let root = FakeRoot::loaded("proc_net_kpoll_busy.txt");
    let run = root
        .run(&["watch", "--interval", "0.1", "--count", "2"])
        .expect(0);
    assert_eq!(
        run.stdout.matches("kpoll  enabled=1").count(),
        2,
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.matches("\ntotal ").count(), 2, "{}", run.stdout);
    assert!(run
        .stdout
        .contains("RX IRQs/s eth0: 0.0 (virtio0-input.0 0.0, virtio0-input.1 0.0)"));
    assert!(
        run.stdout.contains("\n\nkpoll  "),
        "blocks separated by a blank line"
    );
    assert!(!run.stdout.contains('\x1b'), "no screen clearing on a pipe");
}

#[test]
fn watch_json_lines() {
    let root = FakeRoot::loaded("proc_net_kpoll_busy.txt");
    let run = root
        .run(&["watch", "--json", "--interval", "0.05", "--count", "3"])
        .expect(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3);
    for line in lines {
        let doc: Value = serde_json::from_str(line).unwrap();
        assert_eq!(doc["schema"], 1);
        assert!(doc["interval_s"].as_f64().unwrap() >= 0.05);
        assert_eq!(doc["napis"].as_array().unwrap().len(), 2);
        assert_eq!(doc["total"]["app_polls"], 0.0);
        assert_eq!(doc["total"]["held_pct"], 0.0);
        assert_eq!(doc["total"]["service_polls"], 0.0);
        assert_eq!(doc["config"]["napis"], 2);
        assert_eq!(doc["interfaces"][0]["rx_irqs_per_s"], 0.0);
    }
}

#[test]
fn older_module_format_still_reads() {
    let root = FakeRoot::loaded("proc_net_kpoll_older_module.txt");
    let run = root.run(&["status"]).expect(0);
    assert!(
        run.stdout
            .starts_with("kpoll  enabled=1 watchdog_us=10000 budget=64 ports=11211\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  0.1  49.895          -\n"),
        "{}",
        run.stdout
    );
    let run = root.run(&["status", "--json"]).expect(0);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["config"]["napis"], Value::Null);
    assert_eq!(doc["total"]["app_packets"], 8156624);
    assert_eq!(doc["total"]["service_polls"], Value::Null);
    let run = root
        .run(&["watch", "--json", "--interval", "0.05", "--count", "1"])
        .expect(0);
    let doc: Value = serde_json::from_str(run.stdout.trim_end()).unwrap();
    assert_eq!(doc["total"]["app_polls"], 0.0);
    assert_eq!(doc["total"]["service_polls"], Value::Null);
}

#[test]
fn watch_usage_errors() {
    let root = FakeRoot::loaded("proc_net_kpoll_busy.txt");
    root.run(&["watch", "--interval", "0", "--count", "1"])
        .expect(2);
    root.run(&["watch", "--interval", "x", "--count", "1"])
        .expect(2);
    root.run(&["watch", "--count", "0"]).expect(2);
}

#[test]
fn malformed_report_names_the_line() {
    let root = FakeRoot::loaded("proc_net_kpoll_malformed.txt");
    let run = root.run(&["status"]).expect(1);
    let dir = root.dir.display().to_string();
    assert!(
        run.stderr
            .contains(&format!("{dir}/proc/net/kpoll line 4: ")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("app_packets"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    root.run(&["watch", "--count", "1", "--interval", "0.1"])
        .expect(1);
}

#[test]
fn malformed_knob_is_a_runtime_error() {
    let root = FakeRoot::loaded("proc_net_kpoll_idle.txt");
    root.write("proc/sys/net/kpoll/ports", "eleven\n");
    let run = root.run(&["enable", "--port", "80"]).expect(1);
    assert!(
        run.stderr.contains("proc/sys/net/kpoll/ports"),
        "{}",
        run.stderr
    );
    assert_eq!(root.read("proc/sys/net/kpoll/ports"), "eleven\n");
}

#[test]
fn help_for_every_subcommand() {
    let root = FakeRoot::empty();
    for sub in ["status", "watch", "enable", "disable", "set"] {
        let run = root.run(&[sub, "--help"]).expect(0);
        assert!(
            run.stdout.contains("Usage: kpollctl"),
            "{sub}: {}",
            run.stdout
        );
        assert!(run.stdout.contains("--root"), "{sub}: {}", run.stdout);
    }
    let run = root.run(&["--help"]).expect(0);
    assert!(run.stdout.contains("Exit status"));
    root.run(&["frobnicate"]).expect(2);
    root.run(&[]).expect(2);
}

/// `set --help` lists every knob with its range, taken from the policy crate, not restated.
#[test]
fn set_help_lists_every_knob_and_its_range() {
    use kpoll_policy::knob::{Accepts, Knob};
    let run = FakeRoot::empty().run(&["set", "--help"]).expect(0);
    for knob in Knob::ALL {
        let line = run
            .stdout
            .lines()
            .find(|line| {
                line.contains(&format!("{}:", knob.name()))
                    || line.contains(&format!("{})", knob.name()))
            })
            .unwrap_or_else(|| panic!("no line for {}: {}", knob.name(), run.stdout));
        if let Accepts::Number { min, max } = knob.accepts() {
            assert!(line.contains(&format!("{min}..={max}")), "{line}");
        }
    }
}
