//! Parser for `/proc/interrupts` and the heuristic that picks an interface's RX IRQs.
//!
//! `/proc/interrupts` starts with a header naming the online CPUs (`CPU0 CPU1 ...`). Each
//! following line is `LABEL:` then up to one count per CPU, then a free-form description. For
//! numbered IRQs the description ends with the handler name (`virtio0-input.0`); named lines such
//! as `NMI:` or `LOC:` describe themselves, and some (`ERR:`, `MIS:`) carry a single count and no
//! description at all.
//!
//! # RX IRQ heuristic
//!
//! A numbered IRQ counts as an RX IRQ of interface `IFACE` when its handler name (the last
//! word of the line) is either
//!
//! 1. a virtio-net receive queue, `<dev>-input.<N>` (regex `-input\.\d+$`). virtio names its
//!    IRQs after the virtio device (`virtio0`), not after the interface. When
//!    `/sys/class/net/IFACE/device` links to a device, only `<that device>-input.<N>` matches;
//!    without sysfs every `-input.<N>` IRQ matches (fine for a guest with one virtio NIC);
//! 2. a queue vector named after the interface and mentioning RX, as mlx4/ixgbe/i40e/ice/bnxt
//!    do: `IFACE` must appear delimited by the start of the name or `-` before it and `-` after
//!    it, and the rest must contain `rx` in any case (`eth0-rx-0`, `eth0-TxRx-0`,
//!    `i40e-eth0-TxRx-3`; not `eth0-tx-0`, not `eth10-rx-0` for `eth1`);
//! 3. exactly `IFACE`, but only when rule 2 found nothing: a single-vector NIC (e1000) names
//!    its one IRQ after the interface, whereas multi-queue drivers use that name for the
//!    link/"other" vector, which does not carry packets.
//!
//! Drivers that name vectors after the PCI device (mlx5's `mlx5_comp0@pci:...`) are not matched;
//! use the per-NAPI IRQ number from `/proc/net/kpoll` when the driver reports one.

/// One line of `/proc/interrupts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrqLine {
    /// The text before the colon: `25`, `NMI`, `LOC`, ...
    pub label: String,
    /// The IRQ number when the label is numeric.
    pub irq: Option<u32>,
    /// One count per CPU column present on the line (fewer than the CPU count for `ERR:`).
    pub per_cpu: Vec<u64>,
    /// Everything after the counts, whitespace-collapsed (may be empty).
    pub description: String,
}

impl IrqLine {
    /// Sum of the per-CPU counts.
    pub fn total(&self) -> u64 {
        self.per_cpu.iter().copied().fold(0, u64::saturating_add)
    }

    /// The handler name of a numbered IRQ: the last word of the description.
    pub fn name(&self) -> Option<&str> {
        self.irq?;
        self.description.split_whitespace().last()
    }
}

/// The parsed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interrupts {
    /// Number of CPU columns in the header.
    pub cpus: usize,
    pub lines: Vec<IrqLine>,
}

impl Interrupts {
    /// The line of IRQ number `irq`, if present.
    pub fn by_irq(&self, irq: u32) -> Option<&IrqLine> {
        self.lines.iter().find(|line| line.irq == Some(irq))
    }

    /// The numbered IRQs that `matcher` considers RX IRQs, in file order.
    pub fn rx_irqs(&self, matcher: &RxMatcher) -> Vec<&IrqLine> {
        let named = |rule: fn(&RxMatcher, &str) -> bool| -> Vec<&IrqLine> {
            self.lines
                .iter()
                .filter(|line| line.name().is_some_and(|name| rule(matcher, name)))
                .collect()
        };
        let found = named(RxMatcher::matches_queue);
        if found.is_empty() {
            named(RxMatcher::matches_single_vector)
        } else {
            found
        }
    }
}

pub use crate::parse_error::ParseError;

/// Parses the full text of `/proc/interrupts`.
pub fn parse(text: &str) -> Result<Interrupts, ParseError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line));
    let (_, header) = lines.next().ok_or_else(|| ParseError {
        line: 1,
        message: "file is empty".into(),
    })?;
    let cpus = header.split_whitespace().count();
    if cpus == 0 || !header.split_whitespace().all(|cpu| cpu.starts_with("CPU")) {
        return Err(ParseError {
            line: 1,
            message: format!("expected a header of CPU columns, found {header:?}"),
        });
    }
    let mut parsed = Vec::new();
    for (number, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let (label, rest) = line.split_once(':').ok_or_else(|| ParseError {
            line: number,
            message: format!("expected `LABEL: counts...`, found {line:?}"),
        })?;
        let label = label.trim();
        if label.is_empty() || label.contains(char::is_whitespace) {
            return Err(ParseError {
                line: number,
                message: format!("bad label {label:?} in {line:?}"),
            });
        }
        let mut words = rest.split_whitespace().peekable();
        let mut per_cpu = Vec::new();
        while per_cpu.len() < cpus {
            match words.peek().and_then(|word| word.parse::<u64>().ok()) {
                Some(count) => {
                    per_cpu.push(count);
                    words.next();
                }
                None => break,
            }
        }
        let irq = label.parse::<u32>().ok();
        if irq.is_some() && per_cpu.len() != cpus {
            return Err(ParseError {
                line: number,
                message: format!(
                    "IRQ {label} has {} counts for {cpus} CPUs: {line:?}",
                    per_cpu.len()
                ),
            });
        }
        parsed.push(IrqLine {
            label: label.to_string(),
            irq,
            per_cpu,
            description: words.collect::<Vec<_>>().join(" "),
        });
    }
    Ok(Interrupts {
        cpus,
        lines: parsed,
    })
}

/// Decides which IRQ names belong to an interface's receive queues (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RxMatcher {
    /// Interface name (`eth0`); `None` matches virtio receive queues only.
    pub iface: Option<String>,
    /// The interface's parent device (`virtio0`) from sysfs, if known.
    pub device: Option<String>,
}

impl RxMatcher {
    /// Rules 1 and 2 of the heuristic.
    pub fn matches_queue(&self, name: &str) -> bool {
        if let Some(prefix) = virtio_input_prefix(name) {
            return match &self.device {
                Some(device) => prefix == device,
                None => true,
            };
        }
        let Some(iface) = self.iface.as_deref().filter(|iface| !iface.is_empty()) else {
            return false;
        };
        name.match_indices(iface).any(|(at, _)| {
            let before_ok = at == 0 || name.as_bytes()[at - 1] == b'-';
            let after = &name[at + iface.len()..];
            before_ok && after.starts_with('-') && after.to_ascii_lowercase().contains("rx")
        })
    }

    /// Rule 3: the single vector of a one-IRQ NIC.
    pub fn matches_single_vector(&self, name: &str) -> bool {
        self.iface.as_deref().is_some_and(|iface| name == iface)
    }
}

/// For `virtio0-input.3` returns `virtio0`.
fn virtio_input_prefix(name: &str) -> Option<&str> {
    let at = name.rfind("-input.")?;
    let queue = &name[at + "-input.".len()..];
    (!queue.is_empty() && queue.bytes().all(|b| b.is_ascii_digit())).then(|| &name[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Interrupts {
        let path = format!(
            "{}/../tests/data/kpollctl/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        parse(&text).unwrap()
    }

    fn names<'a>(lines: &[&'a IrqLine]) -> Vec<&'a str> {
        lines.iter().map(|line| line.name().unwrap()).collect()
    }

    fn matcher(iface: Option<&str>, device: Option<&str>) -> RxMatcher {
        RxMatcher {
            iface: iface.map(str::to_string),
            device: device.map(str::to_string),
        }
    }

    #[test]
    fn one_cpu() {
        let parsed = sample("interrupts_1cpu.txt");
        assert_eq!(parsed.cpus, 1);
        let input = parsed.by_irq(25).unwrap();
        assert_eq!(input.per_cpu, vec![8123]);
        assert_eq!(input.name(), Some("virtio0-input.0"));
        assert_eq!(
            input.description,
            "PCI-MSIX-0000:00:02.0 1-edge virtio0-input.0"
        );
        let rx = parsed.rx_irqs(&matcher(Some("eth0"), None));
        assert_eq!(names(&rx), vec!["virtio0-input.0"]);
        let err = parsed.lines.iter().find(|l| l.label == "ERR").unwrap();
        assert_eq!(err.per_cpu, vec![0]);
        assert_eq!(err.description, "");
        assert_eq!(err.name(), None);
    }

    #[test]
    fn two_cpus() {
        let parsed = sample("interrupts_2cpu.txt");
        assert_eq!(parsed.cpus, 2);
        let rx = parsed.rx_irqs(&matcher(Some("eth0"), None));
        assert_eq!(names(&rx), vec!["virtio0-input.0", "virtio0-input.1"]);
        assert_eq!(
            rx.iter().map(|l| l.total()).sum::<u64>(),
            20931 + 412 + 118 + 30417
        );
        let loc = parsed.lines.iter().find(|l| l.label == "LOC").unwrap();
        assert_eq!(loc.per_cpu, vec![95211, 88730]);
        assert_eq!(loc.irq, None);
        assert_eq!(loc.description, "Local timer interrupts");
        let mis = parsed.lines.iter().find(|l| l.label == "MIS").unwrap();
        assert_eq!(mis.per_cpu, vec![0]);
        assert_eq!(parsed.by_irq(0).unwrap().name(), Some("timer"));
        assert_eq!(parsed.by_irq(4).unwrap().total(), 712);
        assert_eq!(parsed.lines.len(), 30);
    }

    #[test]
    fn virtio_device_from_sysfs_narrows_the_match() {
        let parsed = sample("interrupts_2cpu.txt");
        assert_eq!(
            parsed
                .rx_irqs(&matcher(Some("eth0"), Some("virtio0")))
                .len(),
            2
        );
        assert!(parsed
            .rx_irqs(&matcher(Some("eth0"), Some("virtio1")))
            .is_empty());
        assert_eq!(parsed.rx_irqs(&matcher(None, None)).len(), 2);
    }

    #[test]
    fn named_queue_vectors() {
        let parsed = sample("interrupts_ixgbe.txt");
        assert_eq!(parsed.cpus, 4);
        let eth0 = parsed.rx_irqs(&matcher(Some("eth0"), None));
        assert_eq!(names(&eth0), vec!["eth0-TxRx-0", "eth0-TxRx-1"]);
        let eth1 = parsed.rx_irqs(&matcher(Some("eth1"), None));
        assert_eq!(names(&eth1), vec!["eth1-rx-0"]);
        let eth10 = parsed.rx_irqs(&matcher(Some("eth10"), None));
        assert_eq!(names(&eth10), vec!["eth10-TxRx-0"]);
        assert!(parsed.rx_irqs(&matcher(None, None)).is_empty());
    }

    #[test]
    fn heuristic_rules() {
        let m = matcher(Some("eth0"), None);
        assert!(m.matches_queue("eth0-rx-0"));
        assert!(m.matches_queue("eth0-TxRx-0"));
        assert!(m.matches_queue("i40e-eth0-TxRx-3"));
        assert!(m.matches_queue("virtio3-input.12"));
        assert!(!m.matches_queue("eth0-tx-0"));
        assert!(!m.matches_queue("eth0"));
        assert!(!m.matches_queue("veth0-rx-0"));
        assert!(!m.matches_queue("virtio0-output.0"));
        assert!(!m.matches_queue("virtio0-config"));
        assert!(!m.matches_queue("virtio0-input."));
        assert!(!m.matches_queue("virtio0-input.x"));
        assert!(m.matches_single_vector("eth0"));
        assert!(!matcher(None, None).matches_single_vector("eth0"));
    }

    #[test]
    fn single_vector_fallback() {
        let text = "           CPU0       CPU1\n 11:  100  200   IO-APIC  11-fasteoi   eth0\n";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.rx_irqs(&matcher(Some("eth0"), None)).len(), 1);
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let cases = [
            ("", 1),
            ("garbage\n", 1),
            ("   CPU0\n  0:  1  IO-APIC timer\nno colon here\n", 3),
            ("   CPU0  CPU1\n 25:  1  PCI-MSIX virtio0-input.0\n", 2),
            ("   CPU0\n : 1\n", 2),
        ];
        for (text, line) in cases {
            let err = parse(text).expect_err(text);
            assert_eq!(err.line, line, "{text:?}: {err}");
        }
    }
}
