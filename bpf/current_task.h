/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/* For BPF programs that sample a loop thread (sampler.bpf.c, profile.bpf.c): the task running
 * on it now, from its loop's current-task slot in the target. User space keeps a hash map
 * from thread id to the slot's address, read from the registry (debug.h's loop_current_id). */
#ifndef TASKSCOPE_CURRENT_TASK_H
#define TASKSCOPE_CURRENT_TASK_H

enum tsc_slot_read {
	TSC_SLOT_OK = 0,     /* *id: the running task, 0 = the loop itself */
	TSC_SLOT_NONE,       /* not a loop thread we know (yet) */
	TSC_SLOT_FAULT,      /* the slot could not be read */
};

static __always_inline enum tsc_slot_read tsc_current_task(void *slots, __u32 tid, __u64 *id)
{
	__u64 *slot = bpf_map_lookup_elem(slots, &tid);
	*id = 0;
	if (!slot)
		return TSC_SLOT_NONE;
	/* the loop is hot, its page resident: a fault here means the loop went away */
	if (bpf_probe_read_user(id, sizeof(*id), (const void *)*slot))
		return TSC_SLOT_FAULT;
	return TSC_SLOT_OK;
}

#endif
