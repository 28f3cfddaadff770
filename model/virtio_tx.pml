/*
 * virtio_tx.pml - the send-queue interrupt of virtio_net while kpoll holds the receive NAPI of
 * its queue pair (patches/0002-virtio-net-kpoll-tx-irq.patch), for SPIN. See model/README.md.
 *
 * Designs (spin -D...):
 *   (none)          the patch: start_xmit(), virtnet_poll_cleantx() and the send NAPI's poll
 *                   (virtnet_tx_keep_off(), under the queue's lock) leave the send queue's
 *                   callbacks off while the receive NAPI's NAPI_STATE_KPOLL_HOLD is set, noting
 *                   it in sq->kpoll_cb_off before reading the hold again; the receive poll
 *                   after the release turns them back on in virtnet_poll_cleantx(), or, when
 *                   the lock is taken and the note is set, schedules the send NAPI, whose poll
 *                   turns them on.
 *   -DNO_RESCHEDULE without that send-NAPI schedule (must fail: a transmit that read the hold
 *                   before the release still holds the lock when the release's poll tries it).
 *   -DKEY_GATED     the first version of the patch: no note; the schedule is gated on
 *                   kpoll_key instead, which kpoll_unregister() turns off before the module
 *                   releases its holds (must fail with -DUNLOAD).
 *   -DREAD_THEN_NOTE the note written after the one read of the hold that decides, not before
 *                   a second read (must fail: the release and its poll fit in between).
 * Scenarios:
 *   -DUNLOAD        kpoll_key is turned off at any moment (module unload); holds stay until
 *                   released, as in kpoll_unregister() followed by the module's releases.
 *   -DOTHER_LOCKER  another holder of the queue's lock that never re-arms (dev_watchdog's
 *                   netif_tx_lock(), an XDP transmit), once, at any moment.
 *   -DREHOLD        the hold is taken again after the release, and released once more.
 *   -DNXMIT=n transmits (default 2), -DNHELD=n receive polls per hold (default 1).
 *
 * Actors: a sender in process context (start_xmit() under the queue's lock), the receive side
 * (polls while held, the release: clear_bit(KPOLL_HOLD) and the receive poll that follows),
 * the send NAPI's softirq, the send queue's interrupt handler (skb_xmit_done()), the device,
 * [the unloader, the other lock holder]. Any of them may run concurrently with any other
 * (over-approximating which CPU runs what; the queue's lock is the only exclusion, as in the
 * driver). SPIN interleaves under sequential consistency: the smp_mb() between the note and
 * the second read of the hold in virtnet_tx_keep_off(), and the one between the release's
 * clear_bit() (itself fully ordered) and the read of the note in virtnet_poll_cleantx(), are
 * what gives the C code that behaviour for those two locations (store buffering: one of the
 * two reads sees the other side's write).
 *
 * The device interrupts on every buffer it uses while callbacks are on (no
 * VIRTIO_RING_F_EVENT_IDX: it never skips one), so the driver's own rechecks
 * (virtqueue_enable_cb_delayed()'s and virtqueue_poll()'s result) are what catches a buffer
 * used while callbacks were off. The ring never fills (the full-ring path,
 * check_sq_full_and_disable(), always re-enables callbacks and is unchanged).
 *
 * Property, checked once nothing can move (every actor finished, the device has used every
 * buffer, no interrupt and no poll pending): no used buffer is left unreaped. With callbacks
 * off and nobody left to poll, its skb would never be freed (its socket's TSQ and send-buffer
 * accounting, and BQL, would wait for it).
 */

#ifndef NXMIT
#define NXMIT 2
#endif
#ifndef NHELD
#define NHELD 1
#endif

mtype = { start_xmit, receive_poll, send_napi };  /* who re-arms, in the annotations */

bit  hold = 1;      /* NAPI_STATE_KPOLL_HOLD of the pair's receive NAPI: kpoll holds it */
bit  key = 1;       /* kpoll_key: a kpoll module is registered */
bit  note;          /* sq->kpoll_cb_off */
bit  cb = 1;        /* send queue callbacks enabled: the device interrupts on the next use */
byte inflight;      /* buffers added to the ring and not yet used by the device */
byte used;          /* buffers used by the device and not yet freed (free_old_xmit()) */
byte lock;          /* the queue's __netif_tx_lock: _pid of its holder, 0 if free */
bit  irq;           /* a send-queue interrupt is raised and not yet handled */
bit  tsched;        /* the send NAPI's NAPI_STATE_SCHED (then it is on a poll list) */
bit  tmissed;       /* the send NAPI's NAPI_STATE_MISSED */
byte finished;      /* bounded actors that are done */

#define NACTORS (2 + UNLOADER + LOCKER)
#ifdef UNLOAD
#define UNLOADER 1
#else
#define UNLOADER 0
#endif
#ifdef OTHER_LOCKER
#define LOCKER 1
#else
#define LOCKER 0
#endif

inline tx_lock()      { atomic { lock == 0 -> lock = _pid } }
inline tx_trylock(ok) { atomic { if :: lock == 0 -> lock = _pid; ok = 1 :: else -> ok = 0 fi } }
inline tx_unlock()    { assert(lock == _pid); lock = 0 }

/* free_old_xmit(): every used buffer is freed */
inline free_old_xmit() { used = 0 }

/* virtqueue_enable_cb_delayed(): callbacks on; false if buffers were used meanwhile */
inline enable_cb_delayed(ok) { atomic { cb = 1; ok = (used == 0) } }

/* napi_schedule() of the send NAPI */
inline tx_napi_schedule()
{
	atomic { if :: tsched -> tmissed = 1 :: else -> tsched = 1 fi }
}

/* virtnet_tx_keep_off(), lock held: off = leave the callbacks off */
inline keep_off(who, off)
{
	off = key && hold;
	printf("MSC: %e, under the lock, sees a hold: %d\n", who, off);
#if defined(KEY_GATED)
	skip;
#elif defined(READ_THEN_NOTE)
	if :: off -> note = 1 :: else -> note = 0 fi;
#else
	if
	:: off ->
		note = 1;       /* WRITE_ONCE(sq->kpoll_cb_off, true); smp_mb() */
		off = hold;     /* the hold read again */
		printf("MSC: %e notes it and reads the hold again: %d\n", who, off)
	:: else -> skip
	fi;
	if :: !off -> note = 0 :: else -> skip fi;  /* not kept off: the note is cleared */
#endif
	if
	:: off -> printf("MSC: %e leaves callbacks off\n", who)
	:: else -> printf("MSC: %e re-enables callbacks\n", who)
	fi
}

/* The loop of start_xmit() and virtnet_poll_cleantx(): disable, reap, re-enable callbacks
 * unless kept off, again if buffers were used meanwhile. */
inline reap_and_rearm(who)
{
	do
	:: cb = 0;
	   free_old_xmit();
	   keep_off(who, off);
	   if
	   :: off -> break
	   :: else ->
		enable_cb_delayed(ok);
		if :: ok -> break :: else -> skip fi
	   fi
	od
}

/* start_xmit() with napi_tx: reap, re-arm unless kept off, add the skb */
proctype sender()
{
	byte n;
	bit ok, off;
	do
	:: n < NXMIT ->
		tx_lock();
		reap_and_rearm(start_xmit);
		inflight++;             /* xmit_skb(); the kick is the device's business */
		printf("MSC: start_xmit adds a buffer\n");
		tx_unlock();
		n++
	:: else -> break
	od;
	finished++
}

/* virtnet_poll_cleantx(), inside a receive poll */
inline cleantx()
{
	tx_trylock(ok);
	if
	:: ok ->
		reap_and_rearm(receive_poll);
		tx_unlock()
	:: else ->
		printf("MSC: receive poll: queue lock busy\n");
#if defined(NO_RESCHEDULE)
		skip
#elif defined(KEY_GATED)
		if :: key && !hold -> tx_napi_schedule() :: else -> skip fi
#else
		/* READ_ONCE(sq->kpoll_cb_off); smp_mb(); the hold */
		if :: note && !hold -> tx_napi_schedule() :: else -> skip fi
#endif
	fi
}

/* kpoll's side: polls while held (from epoll_wait() or its timer), then the release and the
 * receive poll it schedules; with -DREHOLD a second hold and release */
proctype receiver()
{
	byte k;
	bit ok, off;
	bit again = 0;
next_hold:
	k = 0;
	do
	:: k < NHELD -> cleantx(); k++
	:: break
	od;
	hold = 0;                   /* release: clear_bit(NAPI_STATE_KPOLL_HOLD) + napi_schedule() */
	printf("MSC: release (hold=0), a receive poll follows\n");
	cleantx();                  /* the receive poll after the release */
#ifdef REHOLD
	if
	:: !again -> again = 1; hold = 1; printf("MSC: hold taken again\n"); goto next_hold
	:: else -> skip
	fi;
#endif
	finished++
}

/* the send NAPI's poll (virtnet_poll_tx()) in NET_RX softirq, whenever it is scheduled */
proctype tx_softirq()
{
	bit off, done, more, ok;
end:	do
	:: tsched ->
		tx_lock();
		cb = 0;
		free_old_xmit();
		keep_off(send_napi, off);
		if
		:: off ->
			/* napi_complete_done(napi, 0) and return: callbacks stay off */
			atomic { if :: tmissed -> tmissed = 0 :: else -> tsched = 0 fi };
			tx_unlock()
		:: else ->
			/* virtqueue_enable_cb_prepare(): on; its opaque is the driver's last used index */
			cb = 1;
			atomic {
				if
				:: tmissed -> tmissed = 0; done = 0
				:: else -> tsched = 0; done = 1
				fi
			};
			if :: !done -> cb = 0 :: else -> skip fi;
			tx_unlock();
			if
			:: done ->
				/* virtqueue_poll(): any buffer used past that index? Then
				 * napi_schedule_prep(), disable, __napi_schedule() */
				more = (used > 0);
				if
				:: more ->
					atomic {
						if
						:: !tsched -> tsched = 1; more = 1
						:: else -> tmissed = 1; more = 0
						fi
					};
					if
					:: more -> tx_lock(); cb = 0; tx_unlock()
					:: else -> skip
					fi
				:: else -> skip
				fi
			:: else -> skip
			fi
		fi
	od
}

/* skb_xmit_done(): callbacks off, schedule the send NAPI (virtqueue_napi_schedule()) */
proctype irq_handler()
{
end:	do
	:: irq -> atomic { irq = 0; cb = 0; if :: tsched -> tmissed = 1 :: else -> tsched = 1 fi }
	od
}

/* the device uses buffers at any time; interrupts on each use while callbacks are on */
proctype device()
{
end:	do
	:: atomic { inflight > 0 -> inflight--; used++; if :: cb -> irq = 1 :: else -> skip fi;
		    printf("MSC: device uses a buffer, callbacks %d\n", cb) }
	od
}

#ifdef UNLOAD
/* kpoll_unregister(): static_branch_disable(&kpoll_key), at any moment */
proctype unloader()
{
	key = 0;
	printf("MSC: unload: kpoll_key off\n");
	finished++
}
#endif

#ifdef OTHER_LOCKER
/* a holder of the queue's lock that never touches the callbacks */
proctype other_locker()
{
	tx_lock();
	printf("MSC: another context holds the queue lock\n");
	tx_unlock();
	finished++
}
#endif

proctype monitor()
{
	timeout ->
	printf("MSC: end: %d used buffer(s) unreaped, callbacks %d\n", used, cb);
	assert(finished == NACTORS && inflight == 0 && !irq && !tsched);
	assert(used == 0)
}

init
{
	atomic {
		run sender();
		run receiver();
		run tx_softirq();
		run irq_handler();
		run device();
#ifdef UNLOAD
		run unloader();
#endif
#ifdef OTHER_LOCKER
		run other_locker();
#endif
		run monitor()
	}
}
