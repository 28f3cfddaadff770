// SPDX-License-Identifier: GPL-2.0
/* Wrappers for inline functions and macros used by kpoll's kernel-crate additions. */

#include <linux/bottom_half.h>
#include <linux/netdevice.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <net/sock.h>

void rust_helper_rcu_read_lock(void)
{
	rcu_read_lock();
}

void rust_helper_rcu_read_unlock(void)
{
	rcu_read_unlock();
}

void rust_helper_local_bh_disable(void)
{
	local_bh_disable();
}

void rust_helper_local_bh_enable(void)
{
	local_bh_enable();
}

bool rust_helper_in_hardirq(void)
{
	return in_hardirq();
}

void rust_helper_set_bit(unsigned int nr, unsigned long *addr)
{
	set_bit(nr, addr);
}

bool rust_helper_test_bit(unsigned int nr, const unsigned long *addr)
{
	return test_bit(nr, addr);
}

bool rust_helper_test_and_clear_bit(unsigned int nr, unsigned long *addr)
{
	return test_and_clear_bit(nr, addr);
}

unsigned int rust_helper_softnet_processed_this_cpu(void)
{
	return __this_cpu_read(softnet_data.processed);
}

unsigned int rust_helper_sk_napi_id(const struct sock *sk)
{
#ifdef CONFIG_NET_RX_BUSY_POLL
	return READ_ONCE(sk->sk_napi_id);
#else
	return 0;
#endif
}

bool rust_helper_sk_in_init_net(const struct sock *sk)
{
	return net_eq(sock_net(sk), &init_net);
}

bool rust_helper_sk_kpoll(const struct sock *sk)
{
#ifdef CONFIG_NET_RX_BUSY_POLL
	return READ_ONCE(sk->sk_kpoll);
#else
	return false;
#endif
}

u16 rust_helper_sk_local_port(const struct sock *sk)
{
	if (sk->sk_family != AF_INET && sk->sk_family != AF_INET6)
		return 0;
	return READ_ONCE(sk->sk_num);
}

bool rust_helper_in_nmi(void)
{
	return in_nmi();
}

bool rust_helper_in_task(void)
{
	return in_task();
}

bool rust_helper_irqs_disabled(void)
{
	return irqs_disabled();
}

bool rust_helper_preemptible(void)
{
	return preemptible();
}
