//! The `status` view: `/proc/net/kpoll` joined with IRQ counts from `/proc/interrupts`.
//!
//! Pure: [`build`] takes parsed inputs; rendering is in `render` and `json`.

use kpoll_policy::counters::Counter;

use crate::{
    interrupts::{Interrupts, RxMatcher},
    procfs::{ConfigLine, Counters, Napi, Report},
};

/// One NAPI line plus the count of its own IRQ when the kernel reported the IRQ number.
#[derive(Clone, Debug, PartialEq)]
pub struct NapiStatus {
    pub napi: Napi,
    /// Total of the NAPI's IRQ line in `/proc/interrupts` (since boot).
    pub irq_count: Option<u64>,
}

/// One IRQ line selected by the RX heuristic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrqCount {
    pub irq: u32,
    pub name: String,
    pub count: u64,
    pub per_cpu: Vec<u64>,
}

/// The RX IRQs of one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfaceIrqs {
    /// `None` for the catch-all entry used when no interface is known.
    pub name: Option<String>,
    /// Parent device from sysfs (`virtio0`), if known.
    pub device: Option<String>,
    pub irqs: Vec<IrqCount>,
}

impl IfaceIrqs {
    /// Sum over the interface's RX IRQs.
    pub fn total(&self) -> u64 {
        self.irqs
            .iter()
            .map(|irq| irq.count)
            .fold(0, u64::saturating_add)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub config: ConfigLine,
    pub napis: Vec<NapiStatus>,
    pub total: Counters,
    /// `None` when `/proc/interrupts` could not be read.
    pub interfaces: Option<Vec<IfaceIrqs>>,
}

/// Selects the RX IRQs of the interface `matcher` describes.
pub fn iface_irqs(interrupts: &Interrupts, matcher: &RxMatcher) -> IfaceIrqs {
    IfaceIrqs {
        name: matcher.iface.clone(),
        device: matcher.device.clone(),
        irqs: interrupts
            .rx_irqs(matcher)
            .into_iter()
            .filter_map(|line| {
                Some(IrqCount {
                    irq: line.irq?,
                    name: line.name()?.to_string(),
                    count: line.total(),
                    per_cpu: line.per_cpu.clone(),
                })
            })
            .collect(),
    }
}

pub fn build(report: &Report, interrupts: Option<&Interrupts>, matchers: &[RxMatcher]) -> Status {
    Status {
        config: report.config.clone(),
        napis: report
            .napis
            .iter()
            .map(|napi| NapiStatus {
                napi: napi.clone(),
                irq_count: napi
                    .irq
                    .and_then(|irq| interrupts?.by_irq(irq))
                    .map(|line| line.total()),
            })
            .collect(),
        total: report.total,
        interfaces: interrupts.map(|interrupts| {
            matchers
                .iter()
                .map(|matcher| iface_irqs(interrupts, matcher))
                .collect()
        }),
    }
}

/// `app_packets / app_polls`, if any poll ran.
pub fn packets_per_poll(counters: &Counters) -> Option<f64> {
    let (polls, packets) = (
        counters.count(Counter::AppPolls),
        counters.count(Counter::AppPackets),
    );
    (polls > 0).then(|| packets as f64 / polls as f64)
}

/// Percentage of ended holds that the watchdog ended (rather than the application going idle).
pub fn watchdog_share(counters: &Counters) -> Option<f64> {
    let fires = counters.count(Counter::WatchdogFires);
    let ended = counters.count(Counter::IdleResumes).saturating_add(fires);
    (ended > 0).then(|| 100.0 * fires as f64 / ended as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{interrupts, procfs};

    use crate::test_data::read;

    #[test]
    fn joins_napi_irq_numbers_and_interface_irqs() {
        let report = procfs::parse(&read("proc_net_kpoll_ports.txt")).unwrap();
        let irqs = interrupts::parse(&read("interrupts_2cpu.txt")).unwrap();
        let matcher = RxMatcher {
            iface: Some("eth0".into()),
            device: None,
        };
        let status = build(&report, Some(&irqs), &[matcher]);
        assert_eq!(status.napis[0].irq_count, Some(20931 + 412));
        assert_eq!(status.napis[1].irq_count, None);
        let ifaces = status.interfaces.unwrap();
        assert_eq!(ifaces.len(), 1);
        assert_eq!(ifaces[0].irqs.len(), 2);
        assert_eq!(ifaces[0].irqs[1].irq, 27);
        assert_eq!(ifaces[0].irqs[1].name, "virtio0-input.1");
        assert_eq!(ifaces[0].irqs[1].per_cpu, vec![118, 30417]);
        assert_eq!(ifaces[0].total(), 20931 + 412 + 118 + 30417);
    }

    #[test]
    fn without_interrupts() {
        let report = procfs::parse(&read("proc_net_kpoll_busy.txt")).unwrap();
        let status = build(&report, None, &[]);
        assert_eq!(status.interfaces, None);
        assert_eq!(status.napis[0].irq_count, None);
    }

    #[test]
    fn ratios() {
        let mut counters = Counters::default();
        counters.add(Counter::AppPolls, 4);
        counters.add(Counter::AppPackets, 10);
        counters.add(Counter::IdleResumes, 3);
        counters.add(Counter::WatchdogFires, 1);
        assert_eq!(packets_per_poll(&counters), Some(2.5));
        assert_eq!(watchdog_share(&counters), Some(25.0));
        assert_eq!(packets_per_poll(&Counters::default()), None);
        assert_eq!(watchdog_share(&Counters::default()), None);
    }
}
