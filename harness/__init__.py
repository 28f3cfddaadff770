"""kpoll's Python harness: typed modules by job, used by the entry points in scripts/ and
tests/.

A guest: `vm` (a QEMU guest's lifecycle: accelerator, icount, NIC queues, host commands),
`netns` (its network namespace and addresses), `accel` (KVM or TCG), `agent` (the control
channel's wire protocol), `console` (kernel problems on the console), `errors`, `env` (paths
and logging), `guest_api` (the Protocol the other modules use), `vm_cli` (boot a guest by
hand).
In the guest: `procfs` (/proc/interrupts, /proc/stat, /proc/timer_list, /proc/softirqs),
`kpoll_status` (kpoll's counters from `kpollctl status --json`), `memcached`, `wait`.
Load runs: `loadgen` (kpoll-loadgen), `guest_metrics` (the counters around a run), `load_run`
(one measured run, for the demo and the benchmark).
Benchmark: `bench_configs`, `bench_run`, `bench_report`, `stats`.
"""
