"""Permanent neighbour entries on both ends of the guest's link, for measurements.

A fresh boot learns the load generator's address from its first ARP exchange and then spends
its first tens of seconds sending through the neighbour layer's slow path (`neigh_resolve_output`
and `eth_header` on every packet, about 130 guest instructions per request in `make profile`)
until the entry settles. Whichever windows fall in that time cost more for a reason that is
neither the configuration nor the load. Pinned entries take that state, and the ARP traffic
that refreshes it, out of every window.
"""
from __future__ import annotations

from harness.guest_api import Guest
from harness.netns import GUEST_IP, GUEST_MAC, HOST_IP, TAP


def pin(vm: Guest) -> None:
    """Makes the host's entry for the guest and the guest's entry for the host permanent."""
    mac = vm.host(["cat", f"/sys/class/net/{TAP}/address"], check=True).stdout.strip()
    vm.host(["ip", "neigh", "replace", GUEST_IP, "lladdr", GUEST_MAC, "dev", TAP,
             "nud", "permanent"], check=True)
    vm.check(f"arp -s {HOST_IP} {mac}")
    shown = vm.check(f"arp -n -a {HOST_IP}")
    if mac.lower() not in shown.lower() or "PERM" not in shown:
        raise RuntimeError(f"the guest's entry for {HOST_IP} is not permanent: {shown.strip()}")
