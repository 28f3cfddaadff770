// SPDX-License-Identifier: GPL-2.0
/*
 * insn_profile: a QEMU TCG plugin that counts the guest instructions executed per translation
 * block, so that a window of guest work can be split by function exactly (scripts/profile.py
 * maps the block addresses to the guest's /proc/kallsyms). Instructions are counted, not
 * sampled: the same guest work gives the same counts whatever the host is doing.
 *
 * Usage: qemu-system-x86_64 ... -plugin PATH/insn_profile.so,out=OUT
 * Every SIGUSR2 sent to QEMU writes a snapshot of the cumulative counts to OUT.N (N = 0, 1, ...),
 * first to OUT.N.tmp and then renamed, so a file that exists is complete. A line per translated
 * block that ran: "<start address, hex> <instructions executed in it> <times it was entered>".
 * A block translated again (after a flush, or with other flags) gets a line of its own; the
 * reader adds them up.
 *
 * Every instruction has its own inline counter increment, so a block left early counts only
 * what it executed: under -icount an I/O access in the middle of a block (a virtio notify) makes
 * QEMU re-run it as an uninstrumented block that ends at the access and continue in a new one,
 * which a per-block count would count twice. Instructions are counted as icount counts them: a
 * rep-prefixed string instruction once per iteration. The counts are exact with one vCPU thread
 * (-icount, or -smp 1); with several MTTCG threads the non-atomic increments can lose some.
 *
 * Only the part of QEMU's plugin API (version 1, QEMU 7.2 and later) that this file uses is
 * declared below: QEMU's plugin header is not packaged by Debian.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* ---- QEMU plugin API, version 1 (the subset used here) ---- */
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct {
	const char *target_name;
	struct {
		int min;
		int cur;
	} version;
	_Bool system_emulation;
} qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
					   qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
					      void *ptr, uint64_t imm);
struct qemu_plugin_insn;
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn,
						enum qemu_plugin_op op, void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
				    void *userdata);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;
__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
							       const qemu_info_t *info, int argc,
							       char **argv);
/* ---- end of the API ---- */

/* One translated block: its address is written once when it is translated; the counters are
 * incremented by the translated code itself (inline, not atomic). */
struct block {
	uint64_t vaddr;
	uint64_t executed; /* instructions executed in this block */
	uint64_t runs;	   /* times the block was entered */
};

/* Blocks live in one reserved mapping that never moves, so a snapshot can read it while the
 * vCPU threads translate and run; only pages actually used are backed. */
#define MAX_BLOCKS (1UL << 24)
static struct block *blocks;
static atomic_ulong nr_blocks;
static atomic_ulong dropped; /* blocks translated after the table was full */
static const char *out_prefix;
static unsigned int snapshots;

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	unsigned long i = atomic_fetch_add(&nr_blocks, 1);

	(void)id;
	if (i >= MAX_BLOCKS) {
		atomic_fetch_add(&dropped, 1);
		return;
	}
	blocks[i].vaddr = qemu_plugin_tb_vaddr(tb);
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &blocks[i].runs, 1);
	for (size_t k = 0, n = qemu_plugin_tb_n_insns(tb); k < n; k++)
		qemu_plugin_register_vcpu_insn_exec_inline(qemu_plugin_tb_get_insn(tb, k),
							   QEMU_PLUGIN_INLINE_ADD_U64,
							   &blocks[i].executed, 1);
}

static void write_snapshot(void)
{
	unsigned long n = atomic_load(&nr_blocks);
	char path[4096], tmp[4120];
	FILE *f;

	if (n > MAX_BLOCKS)
		n = MAX_BLOCKS;
	snprintf(path, sizeof(path), "%s.%u", out_prefix, snapshots++);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "insn_profile: %s: %s\n", tmp, strerror(errno));
		return;
	}
	fprintf(f, "# dropped %lu\n", atomic_load(&dropped));
	for (unsigned long i = 0; i < n; i++) {
		/* A block that ran has its address written: the translating thread stored it
		 * before the block could run (acquire pairs with that program order on x86). */
		uint64_t runs = __atomic_load_n(&blocks[i].runs, __ATOMIC_ACQUIRE);
		uint64_t executed = __atomic_load_n(&blocks[i].executed, __ATOMIC_RELAXED);

		if (runs || executed)
			fprintf(f, "%llx %llu %llu\n", (unsigned long long)blocks[i].vaddr,
				(unsigned long long)executed, (unsigned long long)runs);
	}
	if (fclose(f) || rename(tmp, path))
		fprintf(stderr, "insn_profile: writing %s failed: %s\n", path, strerror(errno));
}

/* SIGUSR2 is taken here, outside signal context, with sigwait(). It must reach no other thread:
 * the main thread, which loads the plugin, blocks it below, and QEMU starts its own threads
 * (vCPUs, RCU, workers) through qemu_thread_create(), which blocks every signal in them. */
static void *snapshot_thread(void *arg)
{
	sigset_t *set = arg;
	int sig;

	for (;;)
		if (sigwait(set, &sig) == 0)
			write_snapshot();
	return NULL;
}

static void on_exit_cb(qemu_plugin_id_t id, void *userdata)
{
	(void)id;
	(void)userdata;
	if (atomic_load(&dropped))
		fprintf(stderr, "insn_profile: %lu blocks not counted (table full)\n",
			atomic_load(&dropped));
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	static sigset_t set;
	pthread_t thread;

	(void)info;
	if (argc != 1 || strncmp(argv[0], "out=", 4) || !argv[0][4]) {
		fprintf(stderr, "insn_profile: one argument: out=PREFIX (the snapshots' path)\n");
		return -1;
	}
	out_prefix = argv[0] + 4;
	blocks = mmap(NULL, MAX_BLOCKS * sizeof(*blocks), PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (blocks == MAP_FAILED) {
		fprintf(stderr, "insn_profile: mmap: %s\n", strerror(errno));
		return -1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) ||
	    pthread_create(&thread, NULL, snapshot_thread, &set)) {
		fprintf(stderr, "insn_profile: cannot start the snapshot thread\n");
		return -1;
	}
	pthread_detach(thread);
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
	return 0;
}
