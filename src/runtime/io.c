/* SPDX-License-Identifier: MIT */
/* Waiting on a file descriptor: one-shot epoll registration plus an optional timer. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

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
	/* epoll allows one registration per fd; a second waiter (a reader beside a writer)
	 * registers a duplicate, which epoll treats as a separate entry. */
	int wfd = fd;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, wfd, &ev)) {
		if (errno != EEXIST)
			return -errno;
		wfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (wfd < 0)
			return -errno;
		if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, wfd, &ev)) {
			int err2 = -errno;
			close(wfd);
			return err2;
		}
	}
	ts__wait_begin(t);
	if (timeout_ns >= 0)
		ts__timer_add(loop, t, ts_now_ns() + (uint64_t)timeout_ns);
	loop->nfd_waits++;
	int r = ts__suspend(TS_WAIT_FD, (uint64_t)fd);
	loop->nfd_waits--;
	/* Removed before this task can be scheduled again, so no stale event can name it. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, wfd, NULL);
	if (wfd != fd)
		close(wfd);
	if (t->timer_index >= 0)
		ts__timer_del(loop, t);
	return r;
}
