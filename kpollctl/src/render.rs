//! Human-readable output: plain aligned tables, no colour.
//!
//! `status` shows cumulative counters since the module was loaded (the file carries no load
//! time, so no rates), two derived ratios (packets per application poll, and the share of ended
//! holds that the watchdog ended) and since-boot IRQ counts. `watch` shows per-second rates.

use kpoll_policy::counters::Counter;

use crate::{
    procfs::{Counters, Napi},
    status::{self, Status},
    watch::{Frame, Rates},
};

/// Left-aligned text column or right-aligned number column.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// Formats rows as columns separated by two spaces, without trailing spaces.
fn table(headers: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|(name, _)| name.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (index, ((cell, width), (_, align))) in
            cells.iter().zip(&widths).zip(headers).enumerate()
        {
            if index > 0 {
                out.push_str("  ");
            }
            let pad = width.saturating_sub(cell.chars().count());
            match align {
                Align::Left => {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                }
                Align::Right => {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                }
            }
        }
        let mut out = out.trim_end().to_string();
        out.push('\n');
        out
    };
    let mut out = line(headers.iter().map(|(name, _)| *name).collect());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |value| value.to_string())
}

fn fixed(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_string(), |value| format!("{value:.decimals$}"))
}

/// Status table columns.
const STATUS_COLUMNS: [(&str, Align); 13] = [
    ("NAPI", Align::Left),
    ("DEV", Align::Left),
    ("IRQ", Align::Right),
    ("STATE", Align::Left),
    ("HOLDS", Align::Right),
    ("APP_POLLS", Align::Right),
    ("APP_PKTS", Align::Right),
    ("PKT/POLL", Align::Right),
    ("IDLE_END", Align::Right),
    ("WD_END", Align::Right),
    ("WD%", Align::Right),
    ("HELD_S", Align::Right),
    ("SVC_POLLS", Align::Right),
];

fn napi_cells(napi: &Napi) -> Vec<String> {
    vec![
        napi.napi_id.to_string(),
        dash(napi.dev.as_deref()),
        dash(napi.irq),
        napi.state.as_str().to_string(),
    ]
}

fn counter_cells(counters: &Counters) -> Vec<String> {
    vec![
        counters.count(Counter::Suspensions).to_string(),
        counters.count(Counter::AppPolls).to_string(),
        counters.count(Counter::AppPackets).to_string(),
        fixed(status::packets_per_poll(counters), 1),
        counters.count(Counter::IdleResumes).to_string(),
        counters.count(Counter::WatchdogFires).to_string(),
        fixed(status::watchdog_share(counters), 1),
        format!("{:.3}", counters.count(Counter::HeldNs) as f64 / 1e6),
        dash(counters.get(Counter::ServicePolls)),
    ]
}

/// The `kpollctl status` text.
pub fn status(status: &Status) -> String {
    // The configuration as on the file's `config` line (the table counts only when the module
    // printed them).
    let mut out = format!("kpoll  {}\n\n", status.config);
    let mut rows: Vec<Vec<String>> = status
        .napis
        .iter()
        .map(|napi| {
            let mut row = napi_cells(&napi.napi);
            row.extend(counter_cells(&napi.napi.counters));
            row
        })
        .collect();
    let mut total = vec!["total".into(), "-".into(), "-".into(), "-".into()];
    total.extend(counter_cells(&status.total));
    rows.push(total);
    out.push_str(&table(&STATUS_COLUMNS, &rows));
    if status.napis.is_empty() {
        out.push_str("(no NAPI instance has been held yet)\n");
    }
    if status.napis.iter().any(|napi| napi.irq_count.is_some()) {
        out.push('\n');
        let rows: Vec<Vec<String>> = status
            .napis
            .iter()
            .filter_map(|napi| {
                Some(vec![
                    napi.napi.napi_id.to_string(),
                    napi.napi.irq?.to_string(),
                    napi.irq_count?.to_string(),
                ])
            })
            .collect();
        out.push_str(&table(
            &[
                ("NAPI", Align::Left),
                ("IRQ", Align::Right),
                ("IRQ_COUNT", Align::Right),
            ],
            &rows,
        ));
    }
    out.push('\n');
    match &status.interfaces {
        None => out.push_str("RX IRQs: /proc/interrupts unavailable\n"),
        Some(ifaces) => {
            let mut rows = Vec::new();
            for iface in ifaces {
                let name = iface.name.clone().unwrap_or_else(|| "*".to_string());
                for irq in &iface.irqs {
                    rows.push(vec![
                        name.clone(),
                        irq.irq.to_string(),
                        irq.name.clone(),
                        irq.count.to_string(),
                    ]);
                }
                rows.push(vec![
                    name,
                    "-".into(),
                    "total".into(),
                    iface.total().to_string(),
                ]);
            }
            out.push_str("RX IRQs since boot (/proc/interrupts):\n");
            out.push_str(&table(
                &[
                    ("IFACE", Align::Left),
                    ("IRQ", Align::Right),
                    ("NAME", Align::Left),
                    ("COUNT", Align::Right),
                ],
                &rows,
            ));
        }
    }
    out
}

/// Watch table columns.
const WATCH_COLUMNS: [(&str, Align); 12] = [
    ("NAPI", Align::Left),
    ("DEV", Align::Left),
    ("IRQ", Align::Right),
    ("STATE", Align::Left),
    ("IRQS/s", Align::Right),
    ("POLLS/s", Align::Right),
    ("PKTS/s", Align::Right),
    ("HOLDS/s", Align::Right),
    ("IDLE/s", Align::Right),
    ("WD/s", Align::Right),
    ("HELD%", Align::Right),
    ("SVC/s", Align::Right),
];

fn rate_cells(rates: &Rates) -> Vec<String> {
    vec![
        format!("{:.1}", rates.app_polls),
        format!("{:.1}", rates.app_packets),
        format!("{:.1}", rates.suspensions),
        format!("{:.1}", rates.idle_resumes),
        format!("{:.1}", rates.watchdog_fires),
        fixed(rates.held_pct, 1),
        fixed(rates.service_polls, 1),
    ]
}

/// One `kpollctl watch` block.
pub fn watch(frame: &Frame) -> String {
    let mut out = format!(
        "kpoll  {}  interval {:.2}s\n",
        frame.config, frame.interval_s
    );
    match &frame.interfaces {
        None => out.push_str("RX IRQs/s: /proc/interrupts unavailable\n"),
        Some(ifaces) => {
            for iface in ifaces {
                let detail: Vec<String> = iface
                    .irqs
                    .iter()
                    .map(|irq| format!("{} {:.1}", irq.name, irq.per_s))
                    .collect();
                out.push_str(&format!(
                    "RX IRQs/s {}: {:.1}{}\n",
                    iface.name.as_deref().unwrap_or("*"),
                    iface.per_s(),
                    if detail.is_empty() {
                        " (no RX IRQ found)".to_string()
                    } else {
                        format!(" ({})", detail.join(", "))
                    }
                ));
            }
        }
    }
    let mut rows: Vec<Vec<String>> = frame
        .napis
        .iter()
        .map(|napi| {
            let mut row = napi_cells(&napi.napi);
            row.push(fixed(napi.irqs_per_s, 1));
            row.extend(rate_cells(&napi.rates));
            row
        })
        .collect();
    let mut total = vec!["total".into(), "-".into(), "-".into(), "-".into()];
    total.push(fixed(
        frame
            .interfaces
            .as_ref()
            .map(|ifaces| ifaces.iter().map(|iface| iface.per_s()).sum()),
        1,
    ));
    total.extend(rate_cells(&frame.total));
    rows.push(total);
    out.push_str(&table(&WATCH_COLUMNS, &rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        interrupts::{self, RxMatcher},
        procfs, status, watch,
    };

    fn read(name: &str) -> String {
        let path = format!(
            "{}/../tests/data/kpollctl/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    }

    fn eth0() -> Vec<RxMatcher> {
        vec![RxMatcher {
            iface: Some("eth0".into()),
            device: None,
        }]
    }

    #[test]
    fn table_aligns_columns() {
        let text = table(
            &[("A", Align::Left), ("NUM", Align::Right)],
            &[
                vec!["long".into(), "1".into()],
                vec!["x".into(), "12345".into()],
            ],
        );
        assert_eq!(text, "A       NUM\nlong      1\nx     12345\n");
    }

    #[test]
    fn status_text() {
        let report = procfs::parse(&read("proc_net_kpoll_busy.txt")).unwrap();
        let irqs = interrupts::parse(&read("interrupts_2cpu.txt")).unwrap();
        let text = status(&status::build(&report, Some(&irqs), &eth0()));
        let expected = "\
kpoll  enabled=1 watchdog_us=10000 budget=64 napis=2 reclaimed=0 untracked=0 ports=11211

NAPI   DEV   IRQ  STATE  HOLDS  APP_POLLS  APP_PKTS  PKT/POLL  IDLE_END  WD_END  WD%  HELD_S  SVC_POLLS
8193   eth0    -  held    1742     263115   4168620      15.8      1739       2  0.1  49.895          3
8194   eth0    -  irq     1690     250877   3988004      15.9      1688       2  0.1  48.771          1
total  -       -  -       3432     513992   8156624      15.9      3427       4  0.1  98.666          4

RX IRQs since boot (/proc/interrupts):
IFACE  IRQ  NAME             COUNT
eth0    25  virtio0-input.0  21343
eth0    27  virtio0-input.1  30535
eth0     -  total            51878
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn idle_status_text() {
        let report = procfs::parse(&read("proc_net_kpoll_idle.txt")).unwrap();
        let text = status(&status::build(&report, None, &[]));
        assert!(text.starts_with(
            "kpoll  enabled=1 watchdog_us=10000 budget=64 napis=0 reclaimed=0 untracked=0 ports=-\n"
        ));
        assert!(
            text.contains("total  -      -  -          0          0         0         -         0       0    -   0.000          0\n"),
            "{text}"
        );
        assert!(text.contains("(no NAPI instance has been held yet)"));
        assert!(text.ends_with("RX IRQs: /proc/interrupts unavailable\n"));
    }

    #[test]
    fn status_with_napi_irq_numbers() {
        let report = procfs::parse(&read("proc_net_kpoll_ports.txt")).unwrap();
        let irqs = interrupts::parse(&read("interrupts_1cpu.txt")).unwrap();
        let text = status(&status::build(&report, Some(&irqs), &eth0()));
        assert!(text.contains("ports=11211 8080"), "{text}");
        assert!(
            text.contains("NAPI  IRQ  IRQ_COUNT\n8193   25       8123\n"),
            "{text}"
        );
        assert!(text.contains("8195   -       -  gone"), "{text}");
    }

    #[test]
    fn watch_text() {
        let before = procfs::parse(&read("proc_net_kpoll_busy.txt")).unwrap();
        let mut after = before.clone();
        after.napis[0].counters.add(Counter::AppPolls, 1000);
        after.napis[0].counters.add(Counter::HeldNs, 500_000);
        after.napis[0].counters.set(Counter::ServicePolls, Some(8));
        after.total.add(Counter::AppPolls, 1000);
        after.total.add(Counter::HeldNs, 500_000);
        after.total.set(Counter::ServicePolls, Some(9));
        let irqs = interrupts::parse(&read("interrupts_2cpu.txt")).unwrap();
        let frame = watch::frame((&before, Some(&irqs)), (&after, Some(&irqs)), &eth0(), 1.0);
        let text = watch(&frame);
        let expected = "\
kpoll  enabled=1 watchdog_us=10000 budget=64 napis=2 reclaimed=0 untracked=0 ports=11211  interval 1.00s
RX IRQs/s eth0: 0.0 (virtio0-input.0 0.0, virtio0-input.1 0.0)
NAPI   DEV   IRQ  STATE  IRQS/s  POLLS/s  PKTS/s  HOLDS/s  IDLE/s  WD/s  HELD%  SVC/s
8193   eth0    -  held        -   1000.0     0.0      0.0     0.0   0.0   50.0    5.0
8194   eth0    -  irq         -      0.0     0.0      0.0     0.0   0.0    0.0    0.0
total  -       -  -         0.0   1000.0     0.0      0.0     0.0   0.0   25.0    5.0
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn older_module_shows_dashes() {
        let before = procfs::parse(&read("proc_net_kpoll_older_module.txt")).unwrap();
        let text = status(&status::build(&before, None, &[]));
        assert!(
            text.starts_with("kpoll  enabled=1 watchdog_us=10000 budget=64 ports=11211\n"),
            "{text}"
        );
        assert!(
            text.contains("  HELD_S  SVC_POLLS\n8193   eth0    -  held    1742     263115   4168620      15.8      1739       2  0.1  49.895          -\n"),
            "{text}"
        );
        let frame = watch::frame((&before, None), (&before, None), &[], 1.0);
        let text = watch(&frame);
        assert!(
            text.contains("  HELD%  SVC/s\n8193   eth0    -  held        -      0.0     0.0      0.0     0.0   0.0    0.0      -\n"),
            "{text}"
        );
    }
}
