// SPDX-License-Identifier: GPL-2.0

//! The module's shared state: configuration and the NAPI table.
//!
//! One instance lives in an [`Arc`](kernel::sync::Arc) shared by the hook, sysctl and proc
//! registrations. It is dropped after all of them are gone, and dropping it gives every held
//! queue back to its IRQ (see [`NapiTable`]).

use crate::{
    napi_table::NapiTable,
    policy::{claim::Generation, config::Config},
};
use core::sync::atomic::AtomicU64;
use kernel::prelude::*;

/// Everything kpoll knows.
#[pin_data]
pub(crate) struct Kpoll {
    /// The `net.kpoll.*` knobs.
    pub(crate) config: Config,
    /// Per-NAPI hold state, watchdogs and counters.
    #[pin]
    pub(crate) napis: NapiTable,
    /// Returns without events after which an epoll instance rested (see `policy::napi_ids`).
    pub(crate) rests: AtomicU64,
}

impl Kpoll {
    /// `seed` differs from load to load: it starts the configuration epoch and the NAPI
    /// entries' holder generation, so that what a previous load left in the epoll instances'
    /// slots names neither.
    pub(crate) fn new(seed: u32) -> impl PinInit<Self> {
        let config = Config::new();
        config.seed_epoch(seed);
        pin_init!(Self {
            config,
            napis <- NapiTable::new(seed as Generation),
            rests: AtomicU64::new(0),
        })
    }
}
