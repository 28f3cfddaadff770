//! `kpollctl watch`: rates between successive snapshots, refreshed every interval.
//!
//! [`frame`] is pure: it turns two snapshots and the time between them into per-second rates.
//! [`run`] is the loop that reads, sleeps and prints.

use std::{io::Write, thread, time::Duration};

use kpoll_policy::counters::Counter;

use crate::{
    error::Error,
    interrupts::{Interrupts, RxMatcher},
    json,
    paths::Paths,
    procfs::{ConfigLine, Counters, Napi, Report},
    render, source,
    status::iface_irqs,
};

/// Per-second rates of the counters over one interval, and the share of it spent held.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    pub suspensions: f64,
    pub app_polls: f64,
    pub app_packets: f64,
    pub idle_resumes: f64,
    pub watchdog_fires: f64,
    /// `held_us delta / interval / NAPIs`, in percent; `None` with no NAPI.
    pub held_pct: Option<f64>,
    /// `None` when the module does not report `service_polls`.
    pub service_polls: Option<f64>,
}

impl Rates {
    /// Rates from a counter delta over `secs` seconds, shared by `napis` NAPI instances.
    pub fn from_delta(delta: &Counters, secs: f64, napis: usize) -> Rates {
        let per_s = |value: u64| value as f64 / secs;
        let rate = |counter: Counter| per_s(delta.count(counter));
        let held_us = delta.count(Counter::HeldNs);
        Rates {
            suspensions: rate(Counter::Suspensions),
            app_polls: rate(Counter::AppPolls),
            app_packets: rate(Counter::AppPackets),
            idle_resumes: rate(Counter::IdleResumes),
            watchdog_fires: rate(Counter::WatchdogFires),
            held_pct: (napis > 0).then(|| 100.0 * held_us as f64 / (secs * 1e6) / napis as f64),
            service_polls: delta.get(Counter::ServicePolls).map(per_s),
        }
    }
}

/// One NAPI line's rates.
#[derive(Clone, Debug, PartialEq)]
pub struct NapiRates {
    /// The NAPI line as last read.
    pub napi: Napi,
    pub rates: Rates,
    /// Rate of the NAPI's own IRQ when the kernel reports its number.
    pub irqs_per_s: Option<f64>,
}

/// One RX IRQ's rate.
#[derive(Clone, Debug, PartialEq)]
pub struct IrqRate {
    pub irq: u32,
    pub name: String,
    pub per_s: f64,
}

/// The RX IRQ rates of one interface.
#[derive(Clone, Debug, PartialEq)]
pub struct IfaceRates {
    pub name: Option<String>,
    pub device: Option<String>,
    pub irqs: Vec<IrqRate>,
}

impl IfaceRates {
    /// Sum over the interface's RX IRQs.
    pub fn per_s(&self) -> f64 {
        self.irqs.iter().map(|irq| irq.per_s).sum()
    }
}

/// Everything one refresh shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Measured time between the two snapshots, in seconds.
    pub interval_s: f64,
    pub config: ConfigLine,
    pub napis: Vec<NapiRates>,
    pub total: Rates,
    /// `None` when `/proc/interrupts` could not be read in either snapshot.
    pub interfaces: Option<Vec<IfaceRates>>,
}

fn irq_rate(prev: &Interrupts, cur: &Interrupts, irq: u32, secs: f64) -> Option<f64> {
    let now = cur.by_irq(irq)?.total();
    // An IRQ that appeared during the interval has no baseline: show 0 rather than its
    // since-boot count.
    let before = prev.by_irq(irq).map_or(now, |line| line.total());
    Some(now.saturating_sub(before) as f64 / secs)
}

/// Computes the rates between `prev` and `cur`, `secs` seconds apart (`secs` > 0).
///
/// A NAPI line missing from `prev` counts from zero (its counters start when kpoll first sees
/// it); counters that went backwards (module reloaded) give a rate of 0.
pub fn frame(
    prev: (&Report, Option<&Interrupts>),
    cur: (&Report, Option<&Interrupts>),
    matchers: &[RxMatcher],
    secs: f64,
) -> Frame {
    let (prev_report, prev_irqs) = prev;
    let (cur_report, cur_irqs) = cur;
    let both_irqs = prev_irqs.zip(cur_irqs);
    let napis = cur_report
        .napis
        .iter()
        .map(|napi| {
            let before = prev_report
                .napis
                .iter()
                .find(|old| old.napi_id == napi.napi_id)
                .map(|old| old.counters)
                .unwrap_or_default();
            NapiRates {
                napi: napi.clone(),
                rates: Rates::from_delta(&napi.counters.delta(&before), secs, 1),
                irqs_per_s: napi
                    .irq
                    .zip(both_irqs)
                    .and_then(|(irq, (prev, cur))| irq_rate(prev, cur, irq, secs)),
            }
        })
        .collect();
    let total = Rates::from_delta(
        &cur_report.total.delta(&prev_report.total),
        secs,
        cur_report.napis.len(),
    );
    let interfaces = both_irqs.map(|(prev, cur)| {
        matchers
            .iter()
            .map(|matcher| {
                let selected = iface_irqs(cur, matcher);
                IfaceRates {
                    name: selected.name,
                    device: selected.device,
                    irqs: selected
                        .irqs
                        .into_iter()
                        .map(|irq| IrqRate {
                            per_s: irq_rate(prev, cur, irq.irq, secs).unwrap_or(0.0),
                            irq: irq.irq,
                            name: irq.name,
                        })
                        .collect(),
                }
            })
            .collect()
    });
    Frame {
        interval_s: secs,
        config: cur_report.config.clone(),
        napis,
        total,
        interfaces,
    }
}

/// How `run` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Human blocks; `clear` homes the cursor and clears the screen before each (TTY only).
    Human { clear: bool },
    /// One JSON object per line.
    Json,
}

/// Clears the screen and moves the cursor home.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// Prints a frame every `interval`, `count` times (forever when `None`).
///
/// A reading error (module unloaded, malformed file) or a failed write to `out` ends the loop.
/// An unreadable `/proc/interrupts` only leaves the IRQ rates out, with a warning on stderr
/// when it starts.
pub fn run(
    paths: &Paths,
    ifaces: &[String],
    interval: Duration,
    count: Option<u64>,
    output: Output,
    out: &mut dyn Write,
) -> Result<(), RunError> {
    let mut prev = source::snapshot(paths)?;
    let mut shown = 0u64;
    while count.is_none_or(|count| shown < count) {
        thread::sleep(interval);
        let cur = source::snapshot(paths)?;
        let secs = cur
            .at
            .duration_since(prev.at)
            .as_secs_f64()
            .max(f64::EPSILON);
        let matchers = source::matchers(paths, &cur.report, ifaces);
        let frame = frame(
            (&prev.report, prev.interrupts.as_ref().ok()),
            (&cur.report, cur.interrupts.as_ref().ok()),
            &matchers,
            secs,
        );
        let text = match output {
            Output::Json => json::watch_line(&frame),
            Output::Human { clear } => {
                let block = render::watch(&frame);
                if clear {
                    format!("{CLEAR}{block}")
                } else if shown > 0 {
                    format!("\n{block}")
                } else {
                    block
                }
            }
        };
        out.write_all(text.as_bytes())?;
        out.flush()?;
        if let Err(why) = &cur.interrupts {
            if shown == 0 || prev.interrupts.is_ok() {
                eprintln!("warning: RX IRQ rates unavailable: {why}");
            }
        }
        shown += 1;
        prev = cur;
    }
    Ok(())
}

/// `run` fails either reading the kernel's files or writing the output.
#[derive(Debug)]
pub enum RunError {
    Read(Error),
    Write(std::io::Error),
}

impl From<Error> for RunError {
    fn from(err: Error) -> Self {
        RunError::Read(err)
    }
}

impl From<std::io::Error> for RunError {
    fn from(err: std::io::Error) -> Self {
        RunError::Write(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{interrupts, procfs};

    /// The first `count` columns of the header.
    fn columns(count: usize) -> String {
        let columns: Vec<&str> = kpoll_policy::report::columns().take(count).collect();
        columns.join(" ")
    }

    fn report(lines: &[&str], total: &str) -> Report {
        let mut text = format!(
            "config enabled=1 watchdog_us=10000 budget=64 napis=2 reclaimed=0 untracked=0 \
             ports=11211\n{}\n",
            columns(11)
        );
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(total);
        text.push('\n');
        procfs::parse(&text).unwrap()
    }

    fn irqs(input0: u64, input1: u64) -> Interrupts {
        interrupts::parse(&format!(
            "  CPU0 CPU1\n 25: {input0} 0 PCI-MSIX 1-edge virtio0-input.0\n 26: 5 5 PCI-MSIX 2-edge virtio0-output.0\n 27: 0 {input1} PCI-MSIX 3-edge virtio0-input.1\nERR: 0\n"
        ))
        .unwrap()
    }

    #[test]
    fn rates_over_half_a_second() {
        let prev = report(
            &["8193 eth0 25 held 10 100 1000 9 1 100000 4"],
            "total - - - 10 100 1000 9 1 100000 4",
        );
        let cur = report(
            &[
                "8193 eth0 25 held 12 600 9000 11 1 500000 9",
                "8194 eth0 -1 irq 1 50 200 1 0 100000 2",
            ],
            "total - - - 13 650 9200 12 1 600000 11",
        );
        let matcher = RxMatcher {
            iface: Some("eth0".into()),
            device: None,
        };
        let frame = frame(
            (&prev, Some(&irqs(1000, 2000))),
            (&cur, Some(&irqs(1100, 2300))),
            &[matcher],
            0.5,
        );
        assert_eq!(frame.interval_s, 0.5);
        let first = &frame.napis[0];
        assert_eq!(first.rates.app_polls, 1000.0);
        assert_eq!(first.rates.app_packets, 16000.0);
        assert_eq!(first.rates.suspensions, 4.0);
        assert_eq!(first.rates.held_pct, Some(80.0));
        assert_eq!(first.rates.service_polls, Some(10.0));
        assert_eq!(first.irqs_per_s, Some(200.0));
        let second = &frame.napis[1];
        assert_eq!(second.rates.app_polls, 100.0);
        assert_eq!(second.rates.held_pct, Some(20.0));
        // A NAPI line that appeared during the interval counts from zero.
        assert_eq!(second.rates.service_polls, Some(4.0));
        assert_eq!(second.irqs_per_s, None);
        // 500000 us held over 0.5 s by two NAPIs.
        assert_eq!(frame.total.held_pct, Some(50.0));
        assert_eq!(frame.total.app_packets, 16400.0);
        assert_eq!(frame.total.service_polls, Some(14.0));
        let ifaces = frame.interfaces.unwrap();
        assert_eq!(ifaces[0].irqs.len(), 2);
        assert_eq!(ifaces[0].irqs[0].per_s, 200.0);
        assert_eq!(ifaces[0].irqs[1].per_s, 600.0);
        assert_eq!(ifaces[0].per_s(), 800.0);
    }

    #[test]
    fn reload_and_missing_interrupts() {
        let prev = report(&[], "total - - - 50 50 50 50 50 50 50");
        let cur = report(&[], "total - - - 1 1 1 1 1 1 1");
        let frame = frame((&prev, None), (&cur, Some(&irqs(1, 1))), &[], 1.0);
        assert_eq!(frame.total.app_polls, 0.0);
        assert_eq!(frame.total.service_polls, Some(0.0));
        assert_eq!(frame.total.held_pct, None);
        assert_eq!(frame.interfaces, None);
    }

    #[test]
    fn older_module_has_no_service_poll_rate() {
        let older = |total: &str| {
            procfs::parse(&format!(
                "config enabled=1 watchdog_us=10000 budget=64 ports=11211\n{}\n{total}\n",
                columns(10)
            ))
            .unwrap()
        };
        let prev = older("total - - - 1 1 1 1 1 1");
        let cur = older("total - - - 3 3 3 3 3 3");
        let frame = frame((&prev, None), (&cur, None), &[], 1.0);
        assert_eq!(frame.total.app_polls, 2.0);
        assert_eq!(frame.total.service_polls, None);
    }
}
