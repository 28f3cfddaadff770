// SPDX-License-Identifier: GPL-2.0

//! Test-only module: calls the safe NAPI functions of kpoll's kernel-crate additions in process
//! context and from an hrtimer callback (hardirq context with IRQs disabled; softirq context on
//! `PREEMPT_RT`), and logs what they did.
//!
//! kpoll itself never calls them from a timer callback, but a safe function must be sound for any
//! caller: `napi::poll_once` must refuse to run a NAPI poll outside task context, and
//! `Napi::device_name` to wait out a device rename in hardirq context, instead of warning or
//! deadlocking; `Napi::schedule` must not enable bottom halves there. The check is
//! `tests/trust_tests.py`: it loads this module, reads the two log lines and fails on any kernel
//! warning.

use core::sync::atomic::{
    AtomicBool, AtomicU32,
    Ordering::{Acquire, Relaxed, Release},
};
use kernel::{
    hrtimer::{HrTimer, HrTimerCallback, HrTimerRestart},
    impl_has_hr_timer,
    net::napi::{self, Napi, MIN_NAPI_ID},
    prelude::*,
    sync::rcu,
    time::Ktime,
};

module! {
    type: ContextsModule,
    name: "kpoll_contexts",
    author: "kpoll developers",
    description: "Test only: kpoll's NAPI functions called in process and hardirq context",
    license: "GPL",
}

/// NAPI IDs searched, from `MIN_NAPI_ID` on, for the first live NAPI instance.
const SEARCH_IDS: u32 = 1024;
/// Packets one test poll may take.
const BUDGET: u16 = 8;
/// How long the module waits for its timer to fire.
const WAIT_NS: i64 = 1_000_000_000;

/// What the NAPI functions did in one context.
#[derive(Default)]
struct Outcome {
    name_len: AtomicU32,
    polled: AtomicU32,
    /// The calls ran (the NAPI was found).
    ran: AtomicBool,
}

impl Outcome {
    /// Calls `device_name`, `poll_once` and `schedule` on NAPI `id`, recording what they did.
    fn exercise(&self, id: u32) {
        let rcu = rcu::read_lock();
        let Some(napi) = Napi::find(&rcu, id) else {
            return;
        };
        let mut name = [0u8; 16];
        self.name_len
            .store(napi.device_name(&mut name) as u32, Relaxed);
        self.polled
            .store(napi::poll_once(&rcu, id, BUDGET), Relaxed);
        napi.schedule();
        self.ran.store(true, Relaxed);
    }

    fn log(&self, context: &str, id: u32) {
        pr_info!(
            "{context}: napi {id} ran {} name_len {} polled {}\n",
            self.ran.load(Relaxed) as u8,
            self.name_len.load(Relaxed),
            self.polled.load(Relaxed)
        );
    }
}

/// Runs [`Outcome::exercise`] from its timer's callback.
#[pin_data(PinnedDrop)]
struct HardirqProbe {
    #[pin]
    timer: HrTimer<HardirqProbe>,
    id: u32,
    outcome: Outcome,
    fired: AtomicBool,
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for HardirqProbe { self.timer }
}

impl HardirqProbe {
    fn new(id: u32) -> impl PinInit<Self> {
        pin_init!(Self {
            timer <- HrTimer::new(),
            id,
            outcome: Outcome::default(),
            fired: AtomicBool::new(false),
        })
    }
}

impl HrTimerCallback for HardirqProbe {
    type Pointer<'a> = Pin<&'a HardirqProbe>;

    fn run(this: Pin<&Self>) -> HrTimerRestart {
        this.outcome.exercise(this.id);
        this.fired.store(true, Release);
        HrTimerRestart::NoRestart
    }
}

/// The first NAPI ID in use, if any.
fn first_napi_id() -> Option<u32> {
    let rcu = rcu::read_lock();
    (MIN_NAPI_ID..MIN_NAPI_ID + SEARCH_IDS).find(|&id| Napi::find(&rcu, id).is_some())
}

struct ContextsModule {
    _probe: Pin<KBox<HardirqProbe>>,
}

impl kernel::Module for ContextsModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let id = first_napi_id().ok_or(ENODEV)?;
        let process = Outcome::default();
        process.exercise(id);
        process.log("process", id);

        let probe = KBox::pin_init(HardirqProbe::new(id), GFP_KERNEL)?;
        let start = Ktime::ktime_get().to_ns();
        HrTimer::start(&*probe, Ktime::from_raw(start));
        while !probe.fired.load(Acquire) {
            if Ktime::ktime_get().to_ns() - start > WAIT_NS {
                pr_info!("timer: did not fire\n");
                return Err(EBUSY);
            }
            core::hint::spin_loop();
        }
        probe.outcome.log("timer", id);
        Ok(Self { _probe: probe })
    }
}
