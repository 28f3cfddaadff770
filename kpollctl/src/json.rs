//! JSON output of `kpollctl status --json` and `kpollctl watch --json`.
//!
//! The schema is stable: fields are only ever added, never renamed or removed, and `schema`
//! is bumped on an incompatible change. Keys appear in the order documented here.
//!
//! # `status --json` (one object, pretty-printed)
//!
//! ```json
//! {
//!   "schema": 1,
//!   "config": {
//!     "enabled": true, "watchdog_us": 10000, "budget": 64, "ports": [11211],
//!     "napis": 1, "reclaimed": 0, "untracked": 0,  // NAPI table counts, null from older modules
//!     "rests": 0                  // epoll rests, null from older modules
//!   },
//!   "napis": [
//!     {
//!       "napi_id": 8193,
//!       "dev": "eth0",              // string, or null when the file shows "-"
//!       "irq": null,                // IRQ number, or null when the file shows -1
//!       "state": "held",            // "held" | "irq" | "gone"
//!       "counters": {             // the counter columns of /proc/net/kpoll, in file order
//!         "suspensions": 1742, "app_polls": 263115, "app_packets": 4168620,
//!         "idle_resumes": 1739, "watchdog_fires": 2, "held_us": 49895170,
//!         "service_polls": 3        // null from a module without the column
//!       },
//!       "irq_count": null           // since-boot count of "irq" in /proc/interrupts, or null
//!     }
//!   ],
//!   "total": { "suspensions": 3432, ... same keys as "counters"; includes reclaimed entries ... },
//!   "interfaces": [                 // null when /proc/interrupts could not be read
//!     {
//!       "name": "eth0",             // null for the catch-all entry (no interface known)
//!       "device": "virtio0",        // parent device from sysfs, or null
//!       "rx_irqs": 51878,           // sum of "count" below
//!       "irqs": [
//!         { "irq": 25, "name": "virtio0-input.0", "count": 21343, "per_cpu": [20931, 412] }
//!       ]
//!     }
//!   ]
//! }
//! ```
//!
//! Counters are cumulative since the module was loaded; IRQ counts since boot.
//!
//! # `watch --json` (one compact object per line, one line per refresh)
//!
//! ```json
//! {
//!   "schema": 1,
//!   "interval_s": 1.0012,           // measured time between the two reads
//!   "config": { ... as in status ... },
//!   "napis": [
//!     {
//!       "napi_id": 8193, "dev": "eth0", "irq": null, "state": "held",
//!       "rates": {                  // per second over the interval
//!         "suspensions": 3.0, "app_polls": 5210.0, "app_packets": 83360.0,
//!         "idle_resumes": 3.0, "watchdog_fires": 0.0,
//!         "held_pct": 97.5,         // percent of the interval held (null: no NAPI)
//!         "service_polls": 0.0      // null from a module without the column
//!       },
//!       "irqs_per_s": null          // rate of "irq", or null
//!     }
//!   ],
//!   "total": { ... same keys as "rates"; held_pct averaged over the NAPIs ... },
//!   "interfaces": [                 // null when /proc/interrupts could not be read
//!     {
//!       "name": "eth0", "device": null, "rx_irqs_per_s": 12.0,
//!       "irqs": [ { "irq": 25, "name": "virtio0-input.0", "per_s": 12.0 } ]
//!     }
//!   ]
//! }
//! ```

use kpoll_policy::{
    counters::{Counter, COUNTERS},
    knob::{Accepts, Knob, KnobValue},
    report::TableCount,
};
use serde::{ser::SerializeMap, Serialize, Serializer};

use crate::{
    procfs, status,
    watch::{self, Frame},
};

/// Version of the schema documented above.
pub const SCHEMA: u32 = 1;

/// The `config` object: every knob by name (a flag as a boolean, the port list as an array),
/// then the NAPI table counts (null from a module that does not print them).
struct Config<'a>(&'a procfs::ConfigLine);

impl Serialize for Config<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let config = self.0;
        let mut map = serializer.serialize_map(Some(Knob::COUNT + TableCount::COUNT))?;
        for knob in Knob::ALL {
            match (knob.accepts(), config.knob(knob)) {
                (Accepts::Flag, KnobValue::Number(value)) => {
                    map.serialize_entry(knob.name(), &(value != 0))?
                }
                (_, KnobValue::Number(value)) => map.serialize_entry(knob.name(), &value)?,
                (_, KnobValue::Ports(ports)) => {
                    map.serialize_entry(knob.name(), ports.as_slice())?
                }
            }
        }
        for (count, value) in TableCount::ALL.iter().zip(&config.table) {
            map.serialize_entry(count.name(), value)?;
        }
        map.end()
    }
}

impl<'a> From<&'a procfs::ConfigLine> for Config<'a> {
    fn from(config: &'a procfs::ConfigLine) -> Self {
        Config(config)
    }
}

/// The counters as an object keyed by the file's column names, in column order; a column the
/// module did not print is null.
struct Counters([Option<u64>; COUNTERS]);

impl Serialize for Counters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (counter, value) in Counter::ALL.iter().zip(&self.0) {
            map.serialize_entry(counter.column(), value)?;
        }
        map.end()
    }
}

impl From<&procfs::Counters> for Counters {
    fn from(c: &procfs::Counters) -> Self {
        Counters(c.values())
    }
}

#[derive(Serialize)]
struct StatusNapi<'a> {
    napi_id: u32,
    dev: Option<&'a str>,
    irq: Option<u32>,
    state: &'static str,
    counters: Counters,
    irq_count: Option<u64>,
}

#[derive(Serialize)]
struct StatusIrq<'a> {
    irq: u32,
    name: &'a str,
    count: u64,
    per_cpu: &'a [u64],
}

#[derive(Serialize)]
struct StatusIface<'a> {
    name: Option<&'a str>,
    device: Option<&'a str>,
    rx_irqs: u64,
    irqs: Vec<StatusIrq<'a>>,
}

#[derive(Serialize)]
struct StatusDoc<'a> {
    schema: u32,
    config: Config<'a>,
    napis: Vec<StatusNapi<'a>>,
    total: Counters,
    interfaces: Option<Vec<StatusIface<'a>>>,
}

/// The `status --json` document, pretty-printed, with a trailing newline.
pub fn status(status: &status::Status) -> String {
    let doc = StatusDoc {
        schema: SCHEMA,
        config: (&status.config).into(),
        napis: status
            .napis
            .iter()
            .map(|napi| StatusNapi {
                napi_id: napi.napi.napi_id,
                dev: napi.napi.dev.as_deref(),
                irq: napi.napi.irq,
                state: napi.napi.state.as_str(),
                counters: (&napi.napi.counters).into(),
                irq_count: napi.irq_count,
            })
            .collect(),
        total: (&status.total).into(),
        interfaces: status.interfaces.as_ref().map(|ifaces| {
            ifaces
                .iter()
                .map(|iface| StatusIface {
                    name: iface.name.as_deref(),
                    device: iface.device.as_deref(),
                    rx_irqs: iface.total(),
                    irqs: iface
                        .irqs
                        .iter()
                        .map(|irq| StatusIrq {
                            irq: irq.irq,
                            name: &irq.name,
                            count: irq.count,
                            per_cpu: &irq.per_cpu,
                        })
                        .collect(),
                })
                .collect()
        }),
    };
    // Serialising these plain structs cannot fail.
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

#[derive(Serialize)]
struct Rates {
    suspensions: f64,
    app_polls: f64,
    app_packets: f64,
    idle_resumes: f64,
    watchdog_fires: f64,
    held_pct: Option<f64>,
    service_polls: Option<f64>,
}

impl From<&watch::Rates> for Rates {
    fn from(r: &watch::Rates) -> Self {
        Rates {
            suspensions: r.suspensions,
            app_polls: r.app_polls,
            app_packets: r.app_packets,
            idle_resumes: r.idle_resumes,
            watchdog_fires: r.watchdog_fires,
            held_pct: r.held_pct,
            service_polls: r.service_polls,
        }
    }
}

#[derive(Serialize)]
struct WatchNapi<'a> {
    napi_id: u32,
    dev: Option<&'a str>,
    irq: Option<u32>,
    state: &'static str,
    rates: Rates,
    irqs_per_s: Option<f64>,
}

#[derive(Serialize)]
struct WatchIrq<'a> {
    irq: u32,
    name: &'a str,
    per_s: f64,
}

#[derive(Serialize)]
struct WatchIface<'a> {
    name: Option<&'a str>,
    device: Option<&'a str>,
    rx_irqs_per_s: f64,
    irqs: Vec<WatchIrq<'a>>,
}

#[derive(Serialize)]
struct WatchDoc<'a> {
    schema: u32,
    interval_s: f64,
    config: Config<'a>,
    napis: Vec<WatchNapi<'a>>,
    total: Rates,
    interfaces: Option<Vec<WatchIface<'a>>>,
}

/// One `watch --json` line, with a trailing newline.
pub fn watch_line(frame: &Frame) -> String {
    let doc = WatchDoc {
        schema: SCHEMA,
        interval_s: frame.interval_s,
        config: (&frame.config).into(),
        napis: frame
            .napis
            .iter()
            .map(|napi| WatchNapi {
                napi_id: napi.napi.napi_id,
                dev: napi.napi.dev.as_deref(),
                irq: napi.napi.irq,
                state: napi.napi.state.as_str(),
                rates: (&napi.rates).into(),
                irqs_per_s: napi.irqs_per_s,
            })
            .collect(),
        total: (&frame.total).into(),
        interfaces: frame.interfaces.as_ref().map(|ifaces| {
            ifaces
                .iter()
                .map(|iface| WatchIface {
                    name: iface.name.as_deref(),
                    device: iface.device.as_deref(),
                    rx_irqs_per_s: iface.per_s(),
                    irqs: iface
                        .irqs
                        .iter()
                        .map(|irq| WatchIrq {
                            irq: irq.irq,
                            name: &irq.name,
                            per_s: irq.per_s,
                        })
                        .collect(),
                })
                .collect()
        }),
    };
    // Non-finite floats would serialise as null; rates are finite since the interval is > 0.
    let mut text = serde_json::to_string(&doc).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        interrupts::{self, RxMatcher},
        procfs,
    };
    use serde_json::{json, Value};

    use crate::test_data::read;

    #[test]
    fn status_document() {
        let report = procfs::parse(&read("proc_net_kpoll_ports.txt")).unwrap();
        let irqs = interrupts::parse(&read("interrupts_1cpu.txt")).unwrap();
        let matchers = [RxMatcher {
            iface: Some("eth0".into()),
            device: Some("virtio0".into()),
        }];
        let text = status(&status::build(&report, Some(&irqs), &matchers));
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            doc,
            json!({
                "schema": 1,
                "config": {"enabled": false, "watchdog_us": 5000, "budget": 128, "ports": [11211, 8080],
                           "napis": 2, "reclaimed": 1, "untracked": 0, "rests": null},
                "napis": [
                    {"napi_id": 8193, "dev": "eth0", "irq": 25, "state": "irq",
                     "counters": {"suspensions": 17, "app_polls": 2631, "app_packets": 41686,
                                  "idle_resumes": 17, "watchdog_fires": 0, "held_us": 4989517,
                                  "service_polls": 0, "declined": null, "early_fires": null},
                     "irq_count": 8123},
                    {"napi_id": 8195, "dev": null, "irq": null, "state": "gone",
                     "counters": {"suspensions": 3, "app_polls": 40, "app_packets": 512,
                                  "idle_resumes": 2, "watchdog_fires": 1, "held_us": 120044,
                                  "service_polls": 2, "declined": null, "early_fires": null},
                     "irq_count": null}
                ],
                "total": {"suspensions": 25, "app_polls": 2731, "app_packets": 43098,
                          "idle_resumes": 23, "watchdog_fires": 2, "held_us": 5309561,
                          "service_polls": 3, "declined": null, "early_fires": null},
                "interfaces": [
                    {"name": "eth0", "device": "virtio0", "rx_irqs": 8123,
                     "irqs": [{"irq": 25, "name": "virtio0-input.0", "count": 8123, "per_cpu": [8123]}]}
                ]
            })
        );
        // Documented key order.
        let keys: Vec<&str> = [
            "\"schema\"",
            "\"config\"",
            "\"napis\"",
            "\"total\"",
            "\"interfaces\"",
        ]
        .into_iter()
        .collect();
        let positions: Vec<usize> = keys.iter().map(|key| text.find(key).unwrap()).collect();
        assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
        // Counters are keyed by the file's column names, in column order.
        let total = &text[text.find("\"total\"").unwrap()..];
        let positions: Vec<usize> = Counter::ALL
            .iter()
            .map(|counter| total.find(&format!("\"{}\"", counter.column())).unwrap())
            .collect();
        assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
        let mut names: Vec<&str> = doc["total"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        let mut expected: Vec<&str> = Counter::ALL.iter().map(|c| c.column()).collect();
        expected.sort_unstable();
        assert_eq!(names, expected);
    }

    #[test]
    fn older_module_gives_nulls() {
        let report = procfs::parse(&read("proc_net_kpoll_older_module.txt")).unwrap();
        let doc: Value = serde_json::from_str(&status(&status::build(&report, None, &[]))).unwrap();
        assert_eq!(doc["config"]["napis"], Value::Null);
        assert_eq!(doc["config"]["reclaimed"], Value::Null);
        assert_eq!(doc["config"]["untracked"], Value::Null);
        assert_eq!(doc["napis"][0]["counters"]["held_us"], 49895170);
        assert_eq!(doc["napis"][0]["counters"]["service_polls"], Value::Null);
        assert_eq!(doc["total"]["service_polls"], Value::Null);
        let frame = watch::frame((&report, None), (&report, None), &[], 1.0);
        let doc: Value = serde_json::from_str(&watch_line(&frame)).unwrap();
        assert_eq!(doc["total"]["service_polls"], Value::Null);
        assert_eq!(doc["napis"][0]["rates"]["service_polls"], Value::Null);
    }

    #[test]
    fn status_without_interrupts_is_null() {
        let report = procfs::parse(&read("proc_net_kpoll_idle.txt")).unwrap();
        let doc: Value = serde_json::from_str(&status(&status::build(&report, None, &[]))).unwrap();
        assert_eq!(doc["interfaces"], Value::Null);
        assert_eq!(doc["napis"], json!([]));
        assert_eq!(doc["config"]["ports"], json!([]));
    }

    #[test]
    fn watch_line_is_one_line() {
        let before = procfs::parse(&read("proc_net_kpoll_busy.txt")).unwrap();
        let mut after = before.clone();
        after.napis[1].counters.add(Counter::AppPackets, 300);
        after.napis[1].counters.set(Counter::ServicePolls, Some(7));
        after.total.add(Counter::AppPackets, 300);
        after.total.set(Counter::ServicePolls, Some(10));
        let frame = watch::frame((&before, None), (&after, None), &[], 2.0);
        let text = watch_line(&frame);
        assert_eq!(text.matches('\n').count(), 1);
        assert!(text.ends_with('\n'));
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["schema"], 1);
        assert_eq!(doc["interval_s"], 2.0);
        assert_eq!(doc["napis"][1]["rates"]["app_packets"], 150.0);
        assert_eq!(doc["napis"][1]["rates"]["held_pct"], 0.0);
        assert_eq!(doc["napis"][1]["rates"]["service_polls"], 3.0);
        assert_eq!(doc["napis"][0]["rates"]["service_polls"], 0.0);
        assert_eq!(doc["total"]["service_polls"], 3.0);
        assert_eq!(doc["config"]["reclaimed"], 0);
        assert_eq!(doc["napis"][0]["irqs_per_s"], Value::Null);
        assert_eq!(doc["total"]["app_packets"], 150.0);
        assert_eq!(doc["interfaces"], Value::Null);
    }
}
