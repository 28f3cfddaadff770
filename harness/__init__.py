"""kpoll's Python harness: typed modules by job, used by the entry points in scripts/ and
tests/.

Guests: `vm` (a QEMU guest's lifecycle: accelerator, icount, NIC queues, host commands),
`netns` (its network namespace), `accel` (KVM or TCG), `agent` (the control channel's wire
protocol), `console` (kernel problems on the console), `procfs` (the guest's /proc files),
`errors`, `env` (paths and logging), `guest_api` (the Protocol the measuring modules use),
`vm_cli` (boot a guest by hand).
Benchmark: `bench_configs`, `bench_measure`, `bench_run`, `bench_report`, `stats`.
"""
