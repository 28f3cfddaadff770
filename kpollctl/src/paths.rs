//! Where the tool looks for kernel files: every path is below `--root` (default `/`), so tests
//! can point the tool at a fake tree.

use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Paths {
    root: PathBuf,
}

impl Paths {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn under(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// `/proc/net/kpoll`: configuration and per-NAPI counters.
    pub fn report(&self) -> PathBuf {
        self.under("proc/net/kpoll")
    }

    /// `/proc/sys/net/kpoll`: the sysctl directory.
    pub fn sysctl_dir(&self) -> PathBuf {
        self.under("proc/sys/net/kpoll")
    }

    /// `/proc/interrupts`.
    pub fn interrupts(&self) -> PathBuf {
        self.under("proc/interrupts")
    }

    /// `/etc/sysctl.d/90-kpoll.conf`: the knobs set at boot (`--persist`).
    pub fn persisted_sysctls(&self) -> PathBuf {
        self.under("etc/sysctl.d/90-kpoll.conf")
    }

    /// `/etc/modules-load.d/kpoll.conf`: loads the module at boot (`--persist`).
    pub fn persisted_module_load(&self) -> PathBuf {
        self.under("etc/modules-load.d/kpoll.conf")
    }

    /// `/sys/class/net/IFACE/device`: a symlink to the interface's parent device.
    pub fn iface_device(&self, iface: &str) -> PathBuf {
        self.under("sys/class/net")
            .join(Path::new(iface))
            .join("device")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_root_gives_real_paths() {
        let paths = Paths::new("/");
        assert_eq!(paths.report(), PathBuf::from("/proc/net/kpoll"));
        assert_eq!(paths.sysctl_dir(), PathBuf::from("/proc/sys/net/kpoll"));
        assert_eq!(paths.interrupts(), PathBuf::from("/proc/interrupts"));
        assert_eq!(
            paths.persisted_sysctls(),
            PathBuf::from("/etc/sysctl.d/90-kpoll.conf")
        );
        assert_eq!(
            paths.persisted_module_load(),
            PathBuf::from("/etc/modules-load.d/kpoll.conf")
        );
        assert_eq!(
            paths.iface_device("eth0"),
            PathBuf::from("/sys/class/net/eth0/device")
        );
    }

    #[test]
    fn other_roots_prefix_every_path() {
        let paths = Paths::new("/tmp/fake");
        assert_eq!(paths.report(), PathBuf::from("/tmp/fake/proc/net/kpoll"));
        assert_eq!(
            paths.persisted_sysctls(),
            PathBuf::from("/tmp/fake/etc/sysctl.d/90-kpoll.conf")
        );
    }
}
