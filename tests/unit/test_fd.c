/* SPDX-License-Identifier: MIT */
/* ts_wait_fd on pipes: readiness, timeouts, cancellation, errors. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <taskscope/taskscope.h>
#include "check.h"

#define MS 1000000ll

static int fds[2];

static void *writes_later(void *arg)
{
	(void)arg;
	ts_sleep_ms(10);
	CHECK_EQ(write(fds[1], "x", 1), 1);
	return NULL;
}

static void *reads_forever(void *arg)
{
	(void)arg;
	ts_task *w = ts_spawn(writes_later, NULL);
	uint64_t t0 = ts_now_ns();
	CHECK_EQ(ts_wait_fd(fds[0], TS_READ, -1), TS_READ);
	CHECK(ts_now_ns() - t0 >= 10 * MS); /* it really waited for the writer */
	char c = 0;
	CHECK_EQ(read(fds[0], &c, 1), 1);
	CHECK_EQ(c, 'x');
	ts_await(w, NULL);
	ts_task_unref(w);
	return NULL;
}

static void *reads_with_timeout(void *arg)
{
	(void)arg;
	/* data arrives before the timeout: the events, not -ETIMEDOUT */
	ts_task *w = ts_spawn(writes_later, NULL);
	CHECK_EQ(ts_wait_fd(fds[0], TS_READ, 5000 * MS), TS_READ);
	char c;
	CHECK_EQ(read(fds[0], &c, 1), 1);
	ts_await(w, NULL);
	ts_task_unref(w);

	/* nothing arrives: -ETIMEDOUT, and not early */
	uint64_t t0 = ts_now_ns();
	CHECK_EQ(ts_wait_fd(fds[0], TS_READ, 15 * MS), -ETIMEDOUT);
	CHECK(ts_now_ns() - t0 >= 15 * MS);
	/* the fd left the epoll set: waiting on it again works */
	CHECK_EQ(ts_wait_fd(fds[0], TS_READ, 0), -ETIMEDOUT);
	CHECK_EQ(write(fds[1], "y", 1), 1);
	CHECK_EQ(ts_wait_fd(fds[0], TS_READ, 1000 * MS), TS_READ);
	CHECK_EQ(read(fds[0], &c, 1), 1);
	return NULL;
}

static void with_pipe(ts_fn fn)
{
	CHECK_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	ts_run_(fn, "fd_test", NULL);
	close(fds[0]);
	close(fds[1]);
}

TEST(wait_readable_no_timeout) { with_pipe(reads_forever); }
TEST(wait_readable_with_timeout) { with_pipe(reads_with_timeout); }

static void *waits_writable(void *arg)
{
	(void)arg;
	CHECK_EQ(ts_wait_fd(fds[1], TS_WRITE, -1), TS_WRITE);
	/* fill the pipe: then it is not writable until someone reads */
	char buf[4096] = { 0 };
	while (write(fds[1], buf, sizeof(buf)) > 0)
		;
	CHECK_EQ(errno, EAGAIN);
	CHECK_EQ(ts_wait_fd(fds[1], TS_WRITE, 5 * MS), -ETIMEDOUT);
	return NULL;
}

TEST(wait_writable) { with_pipe(waits_writable); }

/* a closed write end makes the read end ready (EOF) */
static void *closes_writer(void *arg)
{
	(void)arg;
	ts_sleep_ms(2);
	close(fds[1]);
	fds[1] = -1;
	return NULL;
}

static void *sees_hangup(void *arg)
{
	(void)arg;
	ts_task *w = ts_spawn(closes_writer, NULL);
	CHECK(ts_wait_fd(fds[0], TS_READ, 5000 * MS) & TS_READ);
	char c;
	CHECK_EQ(read(fds[0], &c, 1), 0);
	ts_await(w, NULL);
	ts_task_unref(w);
	return NULL;
}

TEST(wait_sees_hangup) { with_pipe(sees_hangup); }

/* cancel while waiting on an fd: -ECANCELED, at once */
static void *waits_for_nothing(void *arg)
{
	(void)arg;
	CHECK_EQ(ts_wait_fd(fds[0], TS_READ, -1), -ECANCELED);
	CHECK_EQ(ts_wait_fd(fds[0], TS_READ, 1 * MS), -ETIMEDOUT); /* and it can wait again */
	return NULL;
}

static void *cancels_fd_waiter(void *arg)
{
	(void)arg;
	ts_task *t = ts_spawn(waits_for_nothing, NULL);
	ts_yield();
	CHECK_EQ(ts_task_state(t), TS_WAITING);
	CHECK_EQ(ts_cancel(t), 0);
	/* it waited again after -ECANCELED: it swallowed the cancellation, so it finishes done */
	CHECK_EQ(ts_await(t, NULL), 0);
	CHECK_EQ(ts_task_state(t), TS_DONE);
	ts_task_unref(t);
	return NULL;
}

TEST(wait_fd_cancelled) { with_pipe(cancels_fd_waiter); }

/* two tasks on two pipes, woken by data in the opposite order of their waits */
static int fds2[2], woke_order[2], nwoke;

static void *waits_on(void *arg)
{
	int fd = (int)(long)arg;
	CHECK_EQ(ts_wait_fd(fd, TS_READ, -1), TS_READ);
	woke_order[nwoke++] = fd;
	return NULL;
}

static void *two_pipes(void *arg)
{
	(void)arg;
	CHECK_EQ(pipe2(fds2, O_NONBLOCK | O_CLOEXEC), 0);
	ts_task *a = ts_spawn(waits_on, (void *)(long)fds[0]);
	ts_task *b = ts_spawn(waits_on, (void *)(long)fds2[0]);
	ts_yield();
	CHECK_EQ(write(fds2[1], "b", 1), 1);
	ts_await(b, NULL);
	CHECK_EQ(write(fds[1], "a", 1), 1);
	ts_await(a, NULL);
	CHECK_EQ(nwoke, 2);
	CHECK_EQ(woke_order[0], fds2[0]);
	CHECK_EQ(woke_order[1], fds[0]);
	ts_task_unref(a);
	ts_task_unref(b);
	close(fds2[0]);
	close(fds2[1]);
	return NULL;
}

TEST(wait_fd_two_tasks) { with_pipe(two_pipes); }

/* One task reads a socket while another writes it: the usual full-duplex pair. The writer's
 * wait must not fail because the reader already waits on the same fd. */
static int sv[2];

static void *waits_read_on_sv(void *arg)
{
	(void)arg;
	return (void *)(long)ts_wait_fd(sv[0], TS_READ, 2000 * MS);
}

static void *reader_and_writer(void *arg)
{
	(void)arg;
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	ts_task *r = ts_spawn(waits_read_on_sv, NULL);
	ts_yield(); /* the reader now waits on sv[0] */
	CHECK_EQ(ts_task_state(r), TS_WAITING);
	CHECK_EQ(ts_wait_fd(sv[0], TS_WRITE, 2000 * MS), TS_WRITE);
	CHECK_EQ(write(sv[1], "z", 1), 1);
	void *res = NULL;
	CHECK_EQ(ts_await(r, &res), 0);
	CHECK_EQ((long)res, TS_READ);
	ts_task_unref(r);
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

TEST(read_and_write_waits_on_one_fd) { ts_run(reader_and_writer, NULL); }

static void *bad_fd(void *arg)
{
	(void)arg;
	int r = ts_wait_fd(-1, TS_READ, 1 * MS);
	CHECK_EQ(r, -EBADF);
	return NULL;
}

TEST(wait_fd_errors)
{
	CHECK_EQ(ts_wait_fd(0, TS_READ, 0), -EPERM);
	ts_run(bad_fd, NULL);
}

int main(void)
{
	RUN(wait_readable_no_timeout);
	RUN(wait_readable_with_timeout);
	RUN(wait_writable);
	RUN(wait_sees_hangup);
	RUN(wait_fd_cancelled);
	RUN(wait_fd_two_tasks);
	RUN(wait_fd_errors);
	RUN(read_and_write_waits_on_one_fd);
	return DONE();
}
