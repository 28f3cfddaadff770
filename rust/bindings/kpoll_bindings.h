/* SPDX-License-Identifier: GPL-2.0 */
/* Headers for the kernel-crate pieces kpoll adds (hrtimer, NAPI, sysctl, procfs, kpoll hooks). */
#include <linux/hrtimer.h>
#include <linux/netdevice.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/sysctl.h>
#include <net/busy_poll.h>
#include <net/kpoll.h>
#include <net/net_namespace.h>
#include <net/sock.h>

const unsigned int RUST_CONST_HELPER_MIN_NAPI_ID = MIN_NAPI_ID;

/* Declared in the private net/core/dev.h; exported by kpoll patch 0001. */
struct napi_struct *netdev_napi_by_id(struct net *net, unsigned int napi_id);
