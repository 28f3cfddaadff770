/*
 * napi_hold.pml - kpoll's NAPI hold protocol (patches/0001-kpoll-hook-points.patch) against
 * Linux 6.12's NAPI state machine and virtio_net's RX poll, for SPIN. See model/README.md.
 *
 * Designs (spin -D...):
 *   (none)          the patch: napi_kpoll_poll_begin() marks, per CPU, the NAPI whose ->poll()
 *                   this CPU runs inside __napi_poll() or busy_poll_stop() (kpoll_polling);
 *                   napi_complete_done() parks a held NAPI (returns false, SCHED kept) only
 *                   there, noting it per CPU (kpoll_parked); napi_kpoll_poll_done() after that
 *                   ->poll() clears the marker and, if this CPU's poll parked, drops SCHED or
 *                   polls again. Anywhere else (the prefer-busy-poll completion in
 *                   __napi_poll()) a held NAPI completes normally. napi_kpoll_hold() refuses a
 *                   disabled or unlisted NAPI.
 *   -DPARKING_BIT   the intermediate design: napi_complete_done() parks any held completion
 *                   with a global NAPI_STATE_KPOLL_PARKING bit, and napi_kpoll_poll_done()
 *                   after every ->poll() acts on that bit (test_bit), whoever set it.
 *   -DOLD_DESIGN    the original design: napi_complete_done() returns false while HOLD is set
 *                   but drops SCHED as usual; the hold is a plain set_bit().
 * Scenarios:
 *   -DWITH_DISABLE  napi_disable() + napi_enable() (virtnet close/open) race with the rest.
 *   -DWITH_DEL      (with WITH_DISABLE) netif_napi_del() + netif_napi_add() in between.
 *   -DEND_ONLY      only the end-state properties (a)(d), the checks (b) and napi_enable()'s
 *                   BUG_ON are asserted, not the invariants (c), SCHED ownership, the parking
 *                   checks and napi_complete_done()'s WARN_ON (a warning: the kernel goes on):
 *                   a search then reports what a broken invariant leads to.
 *   -DNPKT=n, -DAPP_STEPS=n, -DPBP_STEPS=n  bounds (default 2 packets, 3 application actions,
 *                   1 attempt of the prefer-busy-poll poller; PBP_STEPS=0: no such poller).
 *   -DWITNESS=n     (default design) reachability checks, bits of n, each an assertion that
 *                   must FAIL, showing that the search gets there: 1 the prefer-busy-poll
 *                   completion of a held NAPI, 2 a parking inside busy_poll_stop(), 4 a parking
 *                   on CPU1, 8 napi_kpoll_poll_done() polling again (pan -c0 reports all).
 *
 * Actors: two CPUs' NET_RX softirqs, the virtio RX interrupt (either CPU), the device (NPKT
 * packets), the epoll application on CPU0 (hold, release, busy poll), another application's
 * busy poll with prefer_busy_poll on CPU1 (up to PBP_STEPS tries, at any time), kpoll's
 * watchdog on CPU1 (a service poll or an early expiry, then the final expiry), [close/open
 * on CPU1], and a monitor that checks the end state once nothing can move.
 *
 * Every operation on napi->state is one atomic step (it is one word, changed only with
 * set_bit/clear_bit/test_and_clear_bit/cmpxchg); steps that are separate in the C code are
 * separate here. Per-CPU variables are only touched by their CPU with bottom halves disabled,
 * so an access to them is folded into the neighbouring step of the same CPU. Lines printed
 * with the "MSC: " prefix annotate a replayed trail.
 */

#if defined(OLD_DESIGN) && defined(PARKING_BIT)
#error "OLD_DESIGN and PARKING_BIT exclude each other"
#endif
#if !defined(OLD_DESIGN) && !defined(PARKING_BIT)
#define PERCPU_DESIGN   /* the patch as it is */
#endif

/* napi->state bits (include/linux/netdevice.h); IN_BUSY_POLL is called BUSY here */
#define SCHED    1
#define MISSED   2
#define DISABLE  4
#define NPSVC    8
#define LISTED   16
#define BUSY     32
#define HOLD     64     /* NAPI_STATE_KPOLL_HOLD */
#define PREFER   128    /* NAPI_STATE_PREFER_BUSY_POLL */
#define PARKING  256    /* NAPI_STATE_KPOLL_PARKING (-DPARKING_BIT only) */

#ifndef NPKT
#define NPKT 2
#endif
#ifndef APP_STEPS
#define APP_STEPS 3
#endif
#ifndef PBP_STEPS
#define PBP_STEPS 1
#endif
#ifndef WITNESS
#define WITNESS 0
#endif

#define APP_CPU 0       /* the epoll application (process context) */
#define PBP_CPU 1       /* the prefer-busy-poll application (process context) */
#define WD_CPU  1       /* kpoll's watchdog hrtimer (hardirq) */
#define DIS_CPU 1       /* the napi_disable()/napi_enable() caller (process context) */

/* the contexts, named in the annotations */
mtype = { softirq_CPU0, softirq_CPU1, app_CPU0, watchdog_CPU1, IRQ_handler, close_open_CPU1,
	  prefer_busy_poller_CPU1 };

#ifdef WITH_DISABLE
#define NACTORS 3       /* app, watchdog, disabler: the bounded actors that must finish */
#else
#define NACTORS 2
#endif

/* invariants on ghost state, left out with -DEND_ONLY */
#ifdef END_ONLY
#define ghost_assert(e) skip
#else
#define ghost_assert(e) assert(e)
#endif

short st = LISTED;  /* napi->state: added and enabled, not scheduled */
bit  cb = 1;        /* virtqueue callbacks enabled: the device interrupts on the next packet */
byte pending;       /* packets in the RX ring not yet received */
bit  irq_raised;    /* an RX interrupt is raised and not yet handled */
byte onlist;        /* 0: on no poll list; c+1: on CPU c's softnet_data.poll_list */
byte owner;         /* ghost: _pid of the context owning SCHED (0: nobody, or the poll list) */
byte in_drv;        /* ghost, (c): contexts in the exclusive part of virtnet_poll() */
byte parker;        /* ghost: _pid of the context whose completion parked the NAPI (0: none) */
bit  cpu_bh[2];     /* CPU c runs its softirq, or a process there has BH disabled */
byte done;          /* bounded actors that have finished */
bit  app_done;      /* the application took its last action */
bit  napi_off;      /* ghost: between napi_disable()'s return and napi_enable() */
#ifdef PERCPU_DESIGN
bit  kpoll_polling[2];  /* per CPU: this CPU runs the NAPI's ->poll() between begin and done */
bit  kpoll_parked[2];   /* per CPU: that ->poll()'s napi_complete_done() parked it */
#endif

/* annotation helpers */
inline pctx(me)
{
	printf("MSC: "); printm(me); printf(": ")
}

inline pstate()
{
	printf("   [sched=%d missed=%d hold=%d busy=%d prefer=%d disable=%d npsvc=%d",
	       (st & SCHED) != 0, (st & MISSED) != 0, (st & HOLD) != 0, (st & BUSY) != 0,
	       (st & PREFER) != 0, (st & DISABLE) != 0, (st & NPSVC) != 0);
#ifdef PERCPU_DESIGN
	printf(" | polling=%d%d parked=%d%d", kpoll_polling[0], kpoll_polling[1],
	       kpoll_parked[0], kpoll_parked[1]);
#endif
#ifdef PARKING_BIT
	printf(" parking=%d", (st & PARKING) != 0);
#endif
	printf(" | cb=%d pending=%d list=%d]\n", cb, pending, onlist)
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

/* The cmpxchg loop at the end of napi_complete_done(): clear SCHED, MISSED and
 * PREFER_BUSY_POLL, or if MISSED was set, keep SCHED, __napi_schedule() on this CPU and return
 * false. drv: called by the driver's poll, whose exclusive part ends when this returns true. */
inline complete_cmpxchg(me, c, ret, drv)
{
	atomic {
		pctx(me);
		ghost_assert(st & SCHED);	/* WARN_ON_ONCE(!(val & NAPIF_STATE_SCHED)) */
#if WITNESS & 1
		assert(drv || (st & (HOLD | DISABLE)) != HOLD);	/* prefer-busy-poll completion, held */
#endif
		if
		:: (st & MISSED) ->
			printf("napi_complete_done: MISSED, polled again -> 0");
			st = st & ~(MISSED | PREFER);
			__napi_schedule(c);
			ret = 0
		:: else ->
			printf("napi_complete_done: SCHED cleared -> %d", ret);
			st = st & ~(SCHED | PREFER);
			drop_sched();
			if
			:: ret && drv -> in_drv--
			:: else
			fi
		fi;
		pstate()
	}
}

/* napi_complete_done(n, work) (net/core/dev.c, with the kpoll patch) on CPU c, called with
 * SCHED owned, by the driver inside its poll (drv) or by __napi_poll(); ret := its return
 * value */
inline napi_complete_done(me, c, ret, drv)
{
	if
	:: atomic { (st & (NPSVC | BUSY)) -> ret = 0 }	/* netpoll / busy poll: "called later" */
	:: else ->
#ifdef OLD_DESIGN
		atomic {		/* if (test_bit(KPOLL_HOLD)) ret = false; */
			ret = ((st & HOLD) == 0);
			pctx(me); printf("napi_complete_done: test_bit(KPOLL_HOLD)=%d", !ret); pstate()
		}
		complete_cmpxchg(me, c, ret, drv)
#endif
#ifdef PARKING_BIT
		if
		:: atomic {		/* READ_ONCE(n->state) */
			(st & (HOLD | DISABLE)) == HOLD ->
			pctx(me); printf("napi_complete_done: HOLD set, not DISABLE"); pstate()
		   }
			atomic {			/* set_bit(KPOLL_PARKING); return false */
				st = st | PARKING;
				ghost_assert(owner == _pid);
				parker = _pid;
				ret = 0;
				pctx(me); printf("napi_complete_done: held, PARKING set -> 0"); pstate()
			}
		:: else ->
			atomic { ret = 1; complete_cmpxchg(me, c, ret, drv) }
		fi
#endif
#ifdef PERCPU_DESIGN
		if
		:: atomic {		/* READ_ONCE(n->state), this_cpu_read(kpoll_polling) == n */
			((st & (HOLD | DISABLE)) == HOLD && kpoll_polling[c]) ->
			kpoll_parked[c] = 1;	/* __this_cpu_write(kpoll_parked, true); return false */
			ghost_assert(owner == _pid && parker == 0);
#if WITNESS & 2
			assert(me != app_CPU0 && me != prefer_busy_poller_CPU1);	/* a parking in busy_poll_stop() */
#endif
#if WITNESS & 4
			assert(c != 1);				/* a parking on CPU1 */
#endif
			parker = _pid;
			ret = 0;
			pctx(me); printf("napi_complete_done: held, parked on CPU%d -> 0", c); pstate()
		   }
		:: else ->
			atomic { ret = 1; complete_cmpxchg(me, c, ret, drv) }
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
	:: work				/* received == budget: no completion */
	:: atomic {			/* virtqueue_napi_complete(): */
		!work ->		/* opaque = virtqueue_enable_cb_prepare(vq) */
		cb = 1;
		pctx(me); printf("virtqueue_enable_cb_prepare"); pstate()
	   }
		napi_complete_done(me, c, ret, 1);
		if
		:: atomic { ret && pending > 0 -> ret = 0 }	/* virtqueue_poll(): more packets */
			virtqueue_napi_schedule(me, c, ok)
		:: atomic { ret && pending == 0 -> ret = 0 }	/* return (the NAPI is given up) */
		:: atomic {					/* virtqueue_disable_cb(vq); return */
			!ret ->
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

/* The rest of virtnet_poll() in the first poll of __napi_busy_loop(): IN_BUSY_POLL is set
 * (only this context clears it, in busy_poll_stop()), so napi_complete_done() returns false at
 * once and the driver disables its callbacks again. */
inline virtnet_poll_rest_in_busy_poll(me, work)
{
	if
	:: work
	:: atomic {
		!work ->
		cb = 1;
		pctx(me); printf("virtqueue_enable_cb_prepare"); pstate()
	   }
		atomic {
			ghost_assert(st & BUSY);
			cb = 0;
			in_drv--;
			pctx(me); printf("napi_complete_done: IN_BUSY_POLL -> 0; virtqueue_disable_cb");
			pstate()
		}
	fi
}

/* napi_kpoll_poll_begin(n): right before ->poll() in __napi_poll() and busy_poll_stop(), BH
 * disabled (statements for the caller's atomic step); the static key is on throughout */
inline napi_kpoll_poll_begin(c)
{
#ifdef PERCPU_DESIGN
	ghost_assert(!kpoll_polling[c] && !kpoll_parked[c]);
	kpoll_polling[c] = 1
#else
	skip
#endif
}

/* napi_kpoll_poll_done(n): right after ->poll() in __napi_poll() and busy_poll_stop(), on the
 * CPU of the napi_kpoll_poll_begin() (BH disabled) */
#ifdef PERCPU_DESIGN
inline napi_kpoll_poll_done(me, c)
{
	atomic {
		kpoll_polling[c] = 0;		/* __this_cpu_write(kpoll_polling, NULL) */
		if
		:: kpoll_parked[c] ->		/* this CPU's ->poll() parked it */
			kpoll_parked[c] = 0;
			ghost_assert(parker == _pid);	/* its own parking, never another's */
			parker = 0;
			pctx(me);
			/* the cmpxchg loop: new = val & ~(MISSED | SCHED_THREADED | PREFER_BUSY_POLL),
			 * and ~SCHED too if the hold is in force and nothing asked for a poll */
			if
			:: (st & (HOLD | MISSED | DISABLE)) == HOLD ->
				printf("napi_kpoll_poll_done: stays held (SCHED cleared, IRQ masked)");
				st = st & ~(MISSED | PREFER | SCHED);
				drop_sched()
			:: else ->
#if WITNESS & 8
				assert(false);		/* napi_kpoll_poll_done() polls again */
#endif
				printf("napi_kpoll_poll_done: released/MISSED/DISABLE, SCHED kept");
				st = st & ~(MISSED | PREFER);
				if
				:: (st & SCHED) -> __napi_schedule(c)	/* if (new & SCHED) */
				:: else
				fi
			fi;
			pstate()
		:: else
		fi
	}
}
#endif
#ifdef PARKING_BIT
inline napi_kpoll_poll_done(me, c)
{
	if
	:: atomic {
		(st & PARKING) ->	/* test_bit(KPOLL_PARKING) */
		pctx(me); printf("napi_kpoll_poll_done: PARKING is set"); pstate()
	   }
		atomic {		/* the cmpxchg loop (which does not test PARKING again) */
			ghost_assert(parker == _pid);	/* its own parking, never another's */
			parker = 0;
			pctx(me);
			if
			:: (st & (HOLD | MISSED | DISABLE)) == HOLD ->
				printf("napi_kpoll_poll_done: parks it (SCHED cleared, IRQ masked)");
				st = st & ~(PARKING | MISSED | SCHED | PREFER);
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
#endif
#ifdef OLD_DESIGN
inline napi_kpoll_poll_done(me, c)
{
	skip
}
#endif

/* kpoll hold (events_delivered): napi_kpoll_hold(n); the old design: set_bit(KPOLL_HOLD).
 * when, cnt: the caller's guard and step counter, folded into the first step (also below) */
inline kpoll_hold(me, when, cnt)
{
	atomic {
		when -> cnt++;
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

/* napi_schedule(n) on CPU c (kpoll's Napi::schedule() with BH disabled, the watchdog in
 * hardirq, __napi_poll()'s prefer-busy-poll branch in softirq): the prep and the list add are
 * one step here, as nothing but the owner acts on an owned NAPI */
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
inline kpoll_release(me, c, held, ok, when, cnt)
{
	atomic {
		when -> cnt++;
		if
		:: (st & HOLD) ->
			st = st & ~HOLD; held = 1;
			pctx(me); printf("release: HOLD cleared"); pstate()
		:: else -> held = 0
		fi
	}
	if
	:: atomic { held -> held = 0; kpoll_schedule(me, c, ok) }
	:: !held
	fi
}

/* napi_busy_loop_rcu(id, NULL, ...) from process context on CPU c, preemption disabled:
 * __napi_busy_loop() tries once (BH disabled): if the NAPI is owned (SCHED, IN_BUSY_POLL or
 * DISABLE) or the cmpxchg fails it gives up, after set_bit(PREFER_BUSY_POLL) if the caller
 * prefers busy polling (prefer); otherwise it takes SCHED|IN_BUSY_POLL and polls once, then
 * busy_poll_stop(): clear MISSED, clear IN_BUSY_POLL, and with BH disabled
 * napi_kpoll_poll_begin(), ->poll(), napi_kpoll_poll_done(), and if the poll used its whole
 * budget __napi_schedule() (__busy_poll_stop(), no defer timer). kpoll's poll_once is this
 * with prefer == 0. */
inline busy_poll_once(me, c, prefer, work, ret, ok, when, cnt)
{
	atomic {
		when && !cpu_bh[c] ->	/* local_bh_disable(): CPU c is not in its softirq */
		cnt++;
		if
		:: (st & (DISABLE | SCHED | BUSY)) ->	/* READ_ONCE(): someone else owns it */
			ok = 0;
			cpu_bh[c] = prefer	/* BH stays disabled until the set_bit */
		:: else ->
			pctx(me); printf("busy poll: takes SCHED|IN_BUSY_POLL");
			st = st | SCHED | BUSY; ok = 1; take_sched(); cpu_bh[c] = 1;
			pstate()
		fi
	}
	if
	:: atomic { ok -> ok = 0; virtnet_receive(me, work) }
		virtnet_poll_rest_in_busy_poll(me, work);
		atomic { work = 0; cpu_bh[c] = 0 }		/* local_bh_enable() */
		/* busy_poll_stop() */
		atomic { st = st & ~MISSED }
		atomic { st = st & ~BUSY }
		atomic {
			!cpu_bh[c] -> cpu_bh[c] = 1;		/* local_bh_disable() */
			napi_kpoll_poll_begin(c)
		}
		virtnet_poll(me, c, work, ret, ok);
		napi_kpoll_poll_done(me, c);
		atomic {
			if
			:: work -> __napi_schedule(c)	/* rc == budget: __busy_poll_stop() */
			:: else
			fi;
			if
			:: owner == _pid ->
				pctx(me); printf("busy_poll_stop returns, NAPI still owned"); pstate()
			:: else
			fi;
			ghost_assert(owner != _pid);	/* nobody is left to poll an owned NAPI */
			work = 0;
			cpu_bh[c] = 0			/* local_bh_enable() */
		}
	:: atomic {
		!ok && prefer ->
		st = st | PREFER;	/* set_bit(NAPI_STATE_PREFER_BUSY_POLL) */
		cpu_bh[c] = 0;		/* local_bh_enable() */
		pctx(me); printf("busy poll: NAPI owned, set_bit(PREFER_BUSY_POLL)"); pstate()
	   }
	:: !ok && !prefer
	fi
}

/* napi_poll() returns, net_rx_action() ends (BH enabled again) */
inline napi_poll_end(me, c, work, ret)
{
	atomic {
		if
		:: owner == _pid ->
			pctx(me); printf("napi_poll returns, NAPI still owned"); pstate()
		:: else
		fi;
		ghost_assert(owner != _pid);	/* nobody is left to poll an owned NAPI */
		work = 0; ret = 0; cpu_bh[c] = 0
	}
}

/* CPU c's NET_RX softirq: net_rx_action() -> napi_poll() -> __napi_poll() */
proctype softirq(byte c)
{
	bit work, ret, ok;
	mtype me = (c == 0 -> softirq_CPU0 : softirq_CPU1);
end:
	do
	:: atomic {
		onlist == c + 1 && !cpu_bh[c] ->
		onlist = 0;		/* list_del_init(&n->poll_list) */
		ghost_assert(owner == 0);
		owner = _pid;
		cpu_bh[c] = 1;
		if
		:: (st & SCHED) ->	/* napi_is_scheduled(n): begin, n->poll(), done */
			ok = 1;
			napi_kpoll_poll_begin(c);
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
				if
				:: (st & PREFER) ->	/* napi_prefer_busy_poll(n) */
					napi_complete_done(me, c, ret, 0);
					if
					:: ret -> kpoll_schedule(me, c, ok)	/* napi_schedule(n) */
					:: else
					fi
				:: else ->
					atomic { __napi_schedule(c) }	/* *repoll = true */
				fi
			fi;
			napi_poll_end(me, c, work, ret)
		:: atomic { !work -> napi_poll_end(me, c, work, ret) }
		fi
	od
}

/* virtio RX interrupt on either CPU: vring_interrupt() -> skb_recv_done() ->
 * virtqueue_napi_schedule(): the prep, then (if it succeeded) the rest */
proctype irq()
{
	bit ok;
	byte c;
	mtype me = IRQ_handler;
end:
	do
	:: atomic {
		irq_raised && !ok ->
		irq_raised = 0;
		if
		:: c = 0
		:: c = 1
		fi;
		pctx(me); printf("IRQ on CPU%d", c);
		napi_schedule_prep(ok);
		if
		:: !ok -> printf(" (prep failed)"); c = 0
		:: else
		fi;
		pstate()
	   }
	:: atomic {
		ok ->
		pctx(me); printf("virtqueue_napi_schedule: scheduled on CPU%d", c);
		cb = 0;
		__napi_schedule(c);
		ok = 0;
		pstate();
		c = 0
	   }
	od
}

/* The device: NPKT packets. One arriving while callbacks are enabled raises the interrupt;
 * with VIRTIO_RING_F_EVENT_IDX the device then stays quiet until the driver re-enables them
 * (event index), without it the driver's flags keep it on until disabled: both are allowed. */
proctype device()
{
	byte i;
end:
	do
	:: atomic {
		i < NPKT ->
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
	od
}

/* The epoll application on APP_CPU: APP_STEPS epoll_wait() actions in any order. */
proctype app()
{
	byte i;
	bit work, ret, ok, held;
	mtype me = app_CPU0;
	do
	:: kpoll_hold(me, i < APP_STEPS, i)				/* events_delivered */
	:: kpoll_release(me, APP_CPU, held, ok, i < APP_STEPS, i)	/* no_events */
	:: i < APP_STEPS && (st & HOLD) ->				/* poll_once */
		busy_poll_once(me, APP_CPU, 0, work, ret, ok, true, i)
	:: atomic { i >= APP_STEPS -> app_done = 1; done++ }; break
	od
}

/* Another application on PBP_CPU busy polling the same NAPI with prefer_busy_poll
 * (SO_PREFER_BUSY_POLL or epoll's prefer_busy_poll): up to PBP_STEPS attempts at any time.
 * Not counted in done: it can always stop. */
proctype pbp()
{
	byte i;
	bit work, ret, ok;
	mtype me = prefer_busy_poller_CPU1;
	do
	:: busy_poll_once(me, PBP_CPU, 1, work, ret, ok, i < PBP_STEPS, i)
	:: break
	od
}

/* kpoll's watchdog hrtimer on WD_CPU (hardirq): may fire at any time, either for a service
 * poll (the holder has not polled for a while: napi_schedule(), the hold kept) or expired
 * (release), and always expires after the last hold (it is armed whenever the bit may be
 * set) */
proctype watchdog()
{
	bit held, ok;
	byte n;
	mtype me = watchdog_CPU1;
	if
	:: kpoll_schedule(me, WD_CPU, ok)			/* Watchdog::ServicePoll */
	:: kpoll_release(me, WD_CPU, held, ok, true, n)		/* Watchdog::Expired, early */
	:: skip
	fi;
	kpoll_release(me, WD_CPU, held, ok, app_done, n);	/* the final expiry */
	done++
}

#ifdef WITH_DISABLE
/* virtnet_close() + virtnet_open(): napi_disable(), [netif_napi_del(), netif_napi_add()],
 * napi_enable(), then virtqueue_napi_schedule() (virtnet_napi_enable()) */
proctype disabler()
{
	bit ok;
	mtype me = close_open_CPU1;
	/* napi_disable() */
	atomic { st = st | DISABLE; pctx(me); printf("napi_disable: DISABLE set"); pstate() }
	atomic {
		!(st & (SCHED | NPSVC)) ->	/* wait for SCHED and NPSVC clear, then the cmpxchg */
		pctx(me); printf("napi_disable: takes SCHED|NPSVC");
		st = (st | SCHED | NPSVC) & ~PREFER;
		take_sched(); napi_off = 1;
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
	st = st & ~HOLD;			/* clear_bit(KPOLL_HOLD) (the patch) */
#endif
#ifdef PARKING_BIT
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
#endif
#ifdef PARKING_BIT
		st = st & ~(SCHED | NPSVC | HOLD | PARKING);
#endif
#ifdef PERCPU_DESIGN
		st = st & ~(SCHED | NPSVC | HOLD);
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
		ghost_assert(onlist == 0 && owner == 0 && in_drv == 0 && !irq_raised && parker == 0);
#ifdef PERCPU_DESIGN
		assert(!kpoll_polling[0] && !kpoll_polling[1] && !kpoll_parked[0] && !kpoll_parked[1]);
#endif
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
#if PBP_STEPS > 0
		run pbp();
#endif
		run watchdog();
#ifdef WITH_DISABLE
		run disabler();
#endif
		run monitor()
	}
}
