/* SPDX-License-Identifier: MIT */
/* Waiting on a file descriptor: one-shot epoll registration plus an optional timer. */
#include "internal.h"

#include <errno.h>
#include <sys/epoll.h>

int ts_wait_fd(int fd, int events, int64_t timeout_ns)
{
	ts_task *t = ts_current_task();
	if (!t)
		return -EPERM;
	ts_loop *loop = t->loop;
	int err = ts__take_cancel(t);
	if (err)
		return err;
	struct epoll_event ev = {
		.events = EPOLLONESHOT | (events & TS_READ ? EPOLLIN : 0) |
			  (events & TS_WRITE ? EPOLLOUT : 0),
		.data.ptr = t,
	};
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	ts__wait_begin(t);
	if (timeout_ns >= 0)
		ts__timer_add(loop, t, ts_now_ns() + (uint64_t)timeout_ns);
	loop->nfd_waits++;
	int r = ts__suspend(TS_WAIT_FD, (uint64_t)fd);
	loop->nfd_waits--;
	/* Removed before this task can be scheduled again, so no stale event can name it. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	if (t->timer_index >= 0)
		ts__timer_del(loop, t);
	return r;
}
