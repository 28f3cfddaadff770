/*
 * napi_hold.pml - kpoll's NAPI hold protocol (patches/0001-kpoll-hook-points.patch) against
 * Linux 6.12's NAPI state machine and virtio_net's RX poll, for SPIN. See model/README.md.
 *
 * Configurations (spin -D...):
 *   (none)          the current design: napi_complete_done() parks a held NAPI
 *                   (NAPI_STATE_KPOLL_PARKING, SCHED kept) and napi_kpoll_poll_done() drops
 *                   SCHED only after the driver's poll has returned; napi_kpoll_hold() refuses
 *                   a disabled or unlisted NAPI.
 *   -DOLD_DESIGN    the previous design: napi_complete_done() returns false while HOLD is set
 *                   but drops SCHED as usual; the hold is a plain set_bit().
 *   -DWITH_DISABLE  napi_disable() + napi_enable() (virtnet close/open) race with the rest.
 *   -DWITH_DEL      (with WITH_DISABLE) netif_napi_del() + netif_napi_add() in between.
 *   -DPERCPU_PARKING  a candidate fix of the current design (not in the patch): the parking
 *                   is also recorded in a per-CPU slot, and napi_kpoll_poll_done() only acts
 *                   on a parking made by the poll that just returned on this CPU.
 *   -DEND_ONLY      only the end-state properties (a)(d), the checks (b) and napi_enable()'s
 *                   BUG_ON are asserted, not the invariants (c), SCHED ownership and
 *                   napi_complete_done()'s WARN_ON (a warning: the kernel goes on): a search
 *                   then reports what a broken invariant leads to (the old design's dead
 *                   queue).
 *   -DNPKT=n, -DAPP_STEPS=n  bounds (default 2 packets, 3 application actions).
 *
 * Actors: two CPUs' NET_RX softirqs, the virtio RX interrupt (either CPU), the device (NPKT
 * packets), the epoll application on CPU0 (hold, release, busy poll), kpoll's watchdog on
 * CPU1 (a service poll or an early expiry, then the final expiry), [close/open on CPU1], and
 * a monitor that checks the end state once nothing can move.
 *
 * Every operation on napi->state is one atomic step (it is one word, changed only with
 * set_bit/clear_bit/test_and_clear_bit/cmpxchg); steps that are separate in the C code are
 * separate here. Lines printed with the "MSC: " prefix annotate a replayed trail.
 */

/* napi->state bits (include/linux/netdevice.h); IN_BUSY_POLL is called BUSY here */
#define SCHED    1
#define MISSED   2
#define DISABLE  4
#define NPSVC    8
#define LISTED   16
#define BUSY     32
#define HOLD     64     /* NAPI_STATE_KPOLL_HOLD */
#define PARKING  128    /* NAPI_STATE_KPOLL_PARKING (current design only) */

#ifndef NPKT
#define NPKT 2
#endif
#ifndef APP_STEPS
#define APP_STEPS 3
#endif

#define APP_CPU 0       /* the epoll application (process context) */
#define WD_CPU  1       /* kpoll's watchdog hrtimer (hardirq) */
#define DIS_CPU 1       /* the napi_disable()/napi_enable() caller (process context) */

/* context ids, for the annotations */
#define CTX_SOFTIRQ0 0
#define CTX_SOFTIRQ1 1
#define CTX_APP      2
#define CTX_WATCHDOG 3
#define CTX_IRQ      4
#define CTX_DISABLER 5

#ifdef WITH_DISABLE
#define NACTORS 4       /* device, app, watchdog, disabler */
#else
#define NACTORS 3
#endif

/* invariants on ghost state, left out with -DEND_ONLY */
#ifdef END_ONLY
#define ghost_assert(e) skip
#else
#define ghost_assert(e) assert(e)
#endif

byte st = LISTED;   /* napi->state: added and enabled, not scheduled */
bit  cb = 1;        /* virtqueue callbacks enabled: the device interrupts on the next packet */
byte pending;       /* packets in the RX ring not yet received */
bit  irq_raised;    /* an RX interrupt is raised and not yet handled */
byte onlist;        /* 0: on no poll list; c+1: on CPU c's softnet_data.poll_list */
byte owner;         /* ghost: _pid of the context owning SCHED (0: nobody, or the poll list) */
byte in_drv;        /* ghost, (c): contexts in the exclusive part of virtnet_poll() */
bit  cpu0_bh;       /* APP_CPU runs its softirq, or the application has BH disabled there */
byte done;          /* bounded actors that have finished */
bit  app_done;      /* the application took its last action */
bit  napi_off;      /* ghost: between napi_disable()'s return and napi_enable() */
#ifdef PERCPU_PARKING
bit  parked_here[2];  /* candidate fix: this CPU's running poll parked the NAPI */
#endif

/* annotation helpers */
inline pctx(me)
{
	if
	:: me == CTX_SOFTIRQ0 -> printf("MSC: softirq CPU0: ")
	:: me == CTX_SOFTIRQ1 -> printf("MSC: softirq CPU1: ")
	:: me == CTX_APP      -> printf("MSC: app (CPU0): ")
	:: me == CTX_WATCHDOG -> printf("MSC: watchdog (CPU1): ")
	:: me == CTX_IRQ      -> printf("MSC: IRQ handler: ")
	:: me == CTX_DISABLER -> printf("MSC: close/open (CPU1): ")
	fi
}

inline pstate()
{
	printf("   [sched=%d missed=%d hold=%d parking=%d busy=%d disable=%d npsvc=%d | cb=%d pending=%d list=%d]\n",
	       (st & SCHED) != 0, (st & MISSED) != 0, (st & HOLD) != 0, (st & PARKING) != 0,
	       (st & BUSY) != 0, (st & DISABLE) != 0, (st & NPSVC) != 0, cb, pending, onlist)
}

/* ownership of SCHED (ghost): taken by a successful napi_schedule_prep(), busy-poll cmpxchg
 * or napi_disable(); handed to a poll list by __napi_schedule() and back by the softirq;
 * given up by the update that clears SCHED. Only the owner may do either. */
inline take_sched()
{
	ghost_assert(owner == 0 && onlist == 0);
	owner = _pid
}

inline drop_sched()
{
	ghost_assert(owner == _pid);	/* only the owner clears SCHED */
	owner = 0
}

/* __napi_schedule(n): put the NAPI on CPU c's poll list; only its owner may */
inline __napi_schedule(c)
{
	ghost_assert((st & SCHED) && owner == _pid && onlist == 0);
	owner = 0;
	onlist = c + 1
}

/* napi_schedule_prep(n): one cmpxchg; ok := this context owns SCHED now */
inline napi_schedule_prep(ok)
{
	if
	:: (st & DISABLE) -> ok = 0
	:: else ->
		if
		:: (st & SCHED) -> st = st | MISSED; ok = 0
		:: else -> st = st | SCHED; ok = 1; take_sched()
		fi
	fi
}

/* virtqueue_napi_schedule(napi, vq) (virtio_net): napi_schedule_prep(); if it succeeded,
 * virtqueue_disable_cb() and __napi_schedule() on this CPU */
inline virtqueue_napi_schedule(me, c, ok)
{
	atomic { napi_schedule_prep(ok) }
	if
	:: ok ->
		atomic {
			pctx(me); printf("virtqueue_napi_schedule: scheduled on CPU%d", c);
			cb = 0;
			__napi_schedule(c);
			ok = 0;
			pstate()
		}
	:: else
	fi
}

/* The cmpxchg loop at the end of napi_complete_done(): clear SCHED and MISSED, or if MISSED
 * was set, keep SCHED, __napi_schedule() on this CPU and return false. drv: called by the
 * driver's poll, whose exclusive part ends when this returns true. */
inline complete_cmpxchg(me, c, ret, drv)
{
	atomic {
		pctx(me);
		ghost_assert(st & SCHED);	/* WARN_ON_ONCE(!(val & NAPIF_STATE_SCHED)) */
		if
		:: (st & MISSED) ->
			printf("napi_complete_done: MISSED, polled again -> 0");
			st = st & ~MISSED;
			__napi_schedule(c);
			ret = 0
		:: else ->
			printf("napi_complete_done: SCHED cleared -> %d", ret);
			st = st & ~SCHED;
			drop_sched();
			if
			:: ret && drv -> in_drv--
			:: else
			fi
		fi;
		pstate()
	}
}

/* napi_complete_done(n, work) (net/core/dev.c, with the kpoll patch): called by the driver
 * inside its poll with SCHED owned; ret := its return value */
inline napi_complete_done(me, c, ret, drv)
{
	if
	:: (st & (NPSVC | BUSY)) -> ret = 0	/* netpoll / busy poll: "we will be called later" */
	:: else ->
#ifdef OLD_DESIGN
		atomic {		/* if (test_bit(KPOLL_HOLD)) ret = false; */
			ret = ((st & HOLD) == 0);
			pctx(me); printf("napi_complete_done: test_bit(KPOLL_HOLD)=%d", !ret); pstate()
		}
		complete_cmpxchg(me, c, ret, drv)
#else
		if
		:: atomic {		/* READ_ONCE(n->state) */
			(st & (HOLD | DISABLE)) == HOLD ->
			pctx(me); printf("napi_complete_done: HOLD set, not DISABLE"); pstate()
		   }
			atomic {			/* set_bit(KPOLL_PARKING); return false */
				st = st | PARKING;
#ifdef PERCPU_PARKING
				parked_here[c] = 1;
#endif
				ret = 0;
				pctx(me); printf("napi_complete_done: held, PARKING set -> 0"); pstate()
			}
		:: else ->
			ret = 1;
			complete_cmpxchg(me, c, ret, drv)
		fi
#endif
	fi
}

/* virtnet_poll(napi, budget) (drivers/net/virtio_net.c) with virtqueue_napi_complete(), in
 * two parts: virtnet_receive() (statements for the caller's atomic step) and the rest.
 * work := 1 if the poll used its whole budget and so did not complete.
 * (c): in_drv counts the contexts in the exclusive part of the driver's poll: from its start
 * until napi_complete_done() returns true (atomically with the cmpxchg that clears SCHED), or
 * else until it returns. After a true return the driver only runs virtqueue_poll() and
 * virtqueue_napi_schedule(), which NAPI allows to overlap the next poll on another CPU. */
inline virtnet_receive(me, work)
{
	in_drv++;
	ghost_assert(in_drv == 1);	/* (c) never two contexts in the driver's poll */
	ghost_assert(owner == _pid);
	cb = 0;				/* if (budget) virtqueue_disable_cb(rq->vq) */
	/* virtnet_receive(): all packets, or a whole budget while more remain */
	if
	:: pending > 0 -> pending--; work = 1; in_drv--	/* returns at once */
	:: true -> pending = 0; work = 0
	fi;
	pctx(me); printf("virtnet_poll: received, budget used=%d", work); pstate()
}

inline virtnet_poll_rest(me, c, work, ret, ok)
{
	if
	:: work -> skip			/* received == budget: no completion */
	:: else ->
		/* virtqueue_napi_complete() */
		atomic {		/* opaque = virtqueue_enable_cb_prepare(vq) */
			cb = 1;
			pctx(me); printf("virtqueue_enable_cb_prepare"); pstate()
		}
		napi_complete_done(me, c, ret, 1);
		if
		:: ret ->		/* the NAPI is given up (in_drv-- done) */
			if
			:: pending > 0 -> virtqueue_napi_schedule(me, c, ok)	/* virtqueue_poll() */
			:: else
			fi;
			ret = 0
		:: else ->
			atomic {	/* virtqueue_disable_cb(vq); return */
				cb = 0;
				in_drv--;
				pctx(me); printf("virtqueue_disable_cb"); pstate()
			}
		fi
	fi
}

inline virtnet_poll(me, c, work, ret, ok)
{
	atomic { virtnet_receive(me, work) }
	virtnet_poll_rest(me, c, work, ret, ok)
}

#ifndef OLD_DESIGN
/* napi_kpoll_poll_done(n): after every ->poll() that may have completed the NAPI, on the
 * polling CPU with BH disabled (__napi_poll(), busy_poll_stop()) */
inline napi_kpoll_poll_done(me, c)
{
#ifdef PERCPU_PARKING
	if
	:: parked_here[c] ->		/* this CPU's poll parked it: it still owns SCHED */
		parked_here[c] = 0;
#else
	if
	:: atomic {
		(st & PARKING) ->	/* test_bit(KPOLL_PARKING) */
		pctx(me); printf("napi_kpoll_poll_done: PARKING is set"); pstate()
	   }
#endif
		atomic {		/* the cmpxchg loop (which does not test PARKING again) */
			pctx(me);
			if
			:: (st & (HOLD | MISSED | DISABLE)) == HOLD ->
				printf("napi_kpoll_poll_done: parks it (SCHED cleared, IRQ masked)");
				st = st & ~(PARKING | MISSED | SCHED);
				drop_sched()
			:: else ->
				printf("napi_kpoll_poll_done: no parking, SCHED kept, polled again if set");
				st = st & ~(PARKING | MISSED);
				if
				:: (st & SCHED) -> __napi_schedule(c)	/* if (new & SCHED) */
				:: else
				fi
			fi;
			pstate()
		}
	:: else
	fi
}
#else
inline napi_kpoll_poll_done(me, c)
{
	skip
}
#endif

/* kpoll hold (events_delivered): napi_kpoll_hold(n); the old design: set_bit(KPOLL_HOLD) */
inline kpoll_hold(me)
{
	atomic {
#ifdef OLD_DESIGN
		pctx(me); printf("hold: set_bit(KPOLL_HOLD)");
		/* (b) a hold is only set on a listed NAPI that is neither disabled nor being disabled */
		assert((st & (LISTED | DISABLE | NPSVC)) == LISTED && !napi_off);
		st = st | HOLD;
		pstate()
#else
		if
		:: (st & HOLD) -> skip
		:: else ->
			if
			:: (st & (LISTED | DISABLE | NPSVC)) == LISTED ->
				pctx(me); printf("napi_kpoll_hold: held");
				assert(!napi_off);	/* (b) */
				st = st | HOLD;
				pstate()
			:: else ->
				pctx(me); printf("napi_kpoll_hold: refused"); pstate()
			fi
		fi
#endif
	}
}

/* kpoll's Napi::schedule(): napi_schedule() on this CPU, BH disabled around it (or in hardirq),
 * so the prep and the list add are one step here. what: annotation. */
inline kpoll_schedule(me, c, ok)
{
	atomic {
		pctx(me); printf("napi_schedule on CPU%d", c);
		napi_schedule_prep(ok);
		if
		:: ok -> __napi_schedule(c)
		:: else -> printf(" (prep failed)")
		fi;
		pstate();
		ok = 0
	}
}

/* kpoll release (would_sleep / no_events, watchdog expiry, unload): test_and_clear_bit
 * (KPOLL_HOLD), and if it was set napi_schedule() on this CPU */
inline kpoll_release(me, c, held, ok)
{
	atomic {
		if
		:: (st & HOLD) ->
			st = st & ~HOLD; held = 1;
			pctx(me); printf("release: HOLD cleared"); pstate()
		:: else -> held = 0
		fi
	}
	if
	:: held -> held = 0; kpoll_schedule(me, c, ok)
	:: else
	fi
}

/* kpoll poll_once -> napi_busy_loop_rcu(id, NULL, ...): __napi_busy_loop() polls once (BH
 * disabled), then busy_poll_stop() (BH disabled for its poll). Process context on CPU c,
 * which is APP_CPU (cpu0_bh). */
inline busy_poll_once(me, c, work, ret, ok)
{
	atomic {
		!cpu0_bh;		/* local_bh_disable(): APP_CPU is not in its softirq */
		if
		:: (st & (DISABLE | SCHED | BUSY)) -> ok = 0	/* someone else polls: give up */
		:: else ->
			pctx(me); printf("busy poll: takes SCHED|IN_BUSY_POLL");
			st = st | SCHED | BUSY; ok = 1; take_sched(); cpu0_bh = 1;
			pstate()
		fi
	}
	if
	:: ok ->
		ok = 0;
		virtnet_poll(me, c, work, ret, ok);
		atomic { work = 0; cpu0_bh = 0 }		/* local_bh_enable() */
		/* busy_poll_stop() */
		atomic { st = st & ~MISSED }
		atomic { st = st & ~BUSY }
		atomic { !cpu0_bh -> cpu0_bh = 1 }	/* local_bh_disable() */
		virtnet_poll(me, c, work, ret, ok);
		napi_kpoll_poll_done(me, c);
		atomic {
			if
			:: work -> __napi_schedule(c)	/* rc == budget: __busy_poll_stop() */
			:: else
			fi;
			work = 0;
			cpu0_bh = 0			/* local_bh_enable() */
		}
	:: else
	fi
}

/* CPU c's NET_RX softirq: net_rx_action() -> napi_poll() -> __napi_poll() */
proctype softirq(byte c)
{
	bit work, ret, ok;
	byte me = c;	/* CTX_SOFTIRQ0 / CTX_SOFTIRQ1 */
end:
	do
	:: atomic {
		onlist == c + 1 && (c != APP_CPU || !cpu0_bh) ->
		onlist = 0;		/* list_del_init(&n->poll_list) */
		ghost_assert(owner == 0);
		owner = _pid;
		if
		:: c == APP_CPU -> cpu0_bh = 1
		:: else
		fi;
		if
		:: (st & SCHED) ->	/* napi_is_scheduled(n): n->poll() */
			ok = 1;
			pctx(me); printf("napi_poll -> virtnet_poll\n");
			virtnet_receive(me, work)
		:: else -> ghost_assert(false)	/* listed but not scheduled */
		fi
	   }
		if
		:: ok ->
			ok = 0;
			virtnet_poll_rest(me, c, work, ret, ok);
			napi_kpoll_poll_done(me, c)
		:: else
		fi;
		if
		:: work ->			/* work == weight: the driver did not complete */
			if
			:: (st & DISABLE) ->	/* napi_disable_pending(): napi_complete(n) */
				napi_complete_done(me, c, ret, 0)
			:: else ->
				atomic { __napi_schedule(c) }	/* *repoll = true */
			fi
		:: else
		fi;
		if
		:: c == APP_CPU -> atomic { work = 0; ret = 0; cpu0_bh = 0 }
		:: else -> work = 0; ret = 0
		fi
	od
}

/* virtio RX interrupt on either CPU: vring_interrupt() -> skb_recv_done() ->
 * virtqueue_napi_schedule() */
proctype irq()
{
	bit ok;
	byte c;
	byte me = CTX_IRQ;
end:
	do
	:: atomic {
		irq_raised ->
		irq_raised = 0;
		if
		:: c = 0
		:: c = 1
		fi;
		pctx(me); printf("IRQ on CPU%d", c);
		napi_schedule_prep(ok);	/* virtqueue_napi_schedule(): the prep */
		if
		:: !ok -> printf(" (prep failed)")
		:: else
		fi;
		pstate()
	   }
		if
		:: ok ->		/* virtqueue_napi_schedule(): the rest */
			atomic {
				pctx(me); printf("virtqueue_napi_schedule: scheduled on CPU%d", c);
				cb = 0;
				__napi_schedule(c);
				ok = 0;
				pstate()
			}
		:: else
		fi;
		c = 0
	od
}

/* The device: NPKT packets. One arriving while callbacks are enabled raises the interrupt;
 * with VIRTIO_RING_F_EVENT_IDX the device then stays quiet until the driver re-enables them
 * (event index), without it the driver's flags keep it on until disabled: both are allowed. */
proctype device()
{
	byte i;
	do
	:: i < NPKT ->
		atomic {
			pending++;
			i++;
			if
			:: cb ->
				irq_raised = 1;
				if
				:: cb = 0	/* event index: one interrupt per enable */
				:: skip		/* flags: interrupts until disabled */
				fi
			:: else
			fi;
			printf("MSC: device: packet arrives"); pstate()
		}
	:: else -> break
	od;
	done++
}

/* The epoll application on APP_CPU: APP_STEPS epoll_wait() actions in any order. */
proctype app()
{
	byte i;
	bit work, ret, ok, held;
	byte me = CTX_APP;
	do
	:: i < APP_STEPS ->
		if
		:: true -> kpoll_hold(me)			/* events_delivered */
		:: true -> kpoll_release(me, APP_CPU, held, ok)	/* no_events: would_sleep */
		:: (st & HOLD) -> busy_poll_once(me, APP_CPU, work, ret, ok)	/* poll_once */
		fi;
		i++
	:: else -> break
	od;
	atomic { app_done = 1; done++ }
}

/* kpoll's watchdog hrtimer on WD_CPU (hardirq): may fire at any time, either for a service
 * poll (the holder has not polled for a while: napi_schedule(), the hold kept) or expired
 * (release), and always expires after the last hold (it is armed whenever the bit may be
 * set) */
proctype watchdog()
{
	bit held, ok;
	byte me = CTX_WATCHDOG;
	if
	:: true -> kpoll_schedule(me, WD_CPU, ok)	/* Watchdog::ServicePoll */
	:: true -> kpoll_release(me, WD_CPU, held, ok)	/* Watchdog::Expired, early */
	:: true
	fi;
	app_done;
	kpoll_release(me, WD_CPU, held, ok);
	done++
}

#ifdef WITH_DISABLE
/* virtnet_close() + virtnet_open(): napi_disable(), [netif_napi_del(), netif_napi_add()],
 * napi_enable(), then virtqueue_napi_schedule() (virtnet_napi_enable()) */
proctype disabler()
{
	bit ok;
	byte me = CTX_DISABLER;
	/* napi_disable() */
	atomic { st = st | DISABLE; pctx(me); printf("napi_disable: DISABLE set"); pstate() }
	atomic {
		!(st & (SCHED | NPSVC)) ->	/* wait for SCHED and NPSVC clear, then the cmpxchg */
		pctx(me); printf("napi_disable: takes SCHED|NPSVC");
		st = st | SCHED | NPSVC; take_sched(); napi_off = 1;
		pstate()
	}
	st = st & ~HOLD;			/* clear_bit(KPOLL_HOLD) (the patch) */
	st = st & ~DISABLE;
#ifdef WITH_DEL
	st = st & ~LISTED;			/* netif_napi_del() */
	atomic {				/* netif_napi_add(): test_and_set_bit(LISTED) */
		assert(!(st & LISTED));
		st = st | LISTED
	}
#ifndef OLD_DESIGN
	st = st & ~HOLD;
	st = st & ~PARKING;
#endif
	st = st | SCHED;
	st = st | NPSVC;
#endif
	/* napi_enable() */
	atomic {
		pctx(me); printf("napi_enable");
		assert(st & SCHED);		/* BUG_ON(!test_bit(SCHED)) */
		assert(!(st & HOLD));		/* (b) no hold was set while it was disabled */
#ifdef OLD_DESIGN
		st = st & ~(SCHED | NPSVC);
#else
		st = st & ~(SCHED | NPSVC | HOLD | PARKING);
#endif
		drop_sched();
		napi_off = 0;
		pstate()
	}
	virtqueue_napi_schedule(me, DIS_CPU, ok);
	done++
}
#endif

/* At quiescence (every actor finished, nothing can move: timeout) the queue must be
 * IRQ-driven again. */
proctype monitor()
{
	timeout ->
	atomic {
		printf("MSC: end:"); pstate();
		assert(done == NACTORS);			/* nobody is stuck (napi_disable) */
		ghost_assert(onlist == 0 && owner == 0 && in_drv == 0 && !irq_raised);
		assert((st & (LISTED | DISABLE | NPSVC)) == LISTED);	/* enabled */
		assert(!(st & (HOLD | PARKING)));		/* (a)(b) no hold left */
		assert(!(st & (SCHED | MISSED | BUSY)));	/* (a) not scheduled, so ... */
		assert(cb == 1);				/* (a) ... the IRQ must be on */
		assert(pending == 0)				/* (d) no packet stranded */
	}
}

init
{
	atomic {
		run softirq(0);
		run softirq(1);
		run irq();
		run device();
		run app();
		run watchdog();
#ifdef WITH_DISABLE
		run disabler();
#endif
		run monitor()
	}
}
