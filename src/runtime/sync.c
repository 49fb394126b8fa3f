/* SPDX-License-Identifier: MIT */
/* A bounded queue and an event, both usable by tasks of different loops. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

struct ts_queue {
	pthread_mutex_t lock;
	void **items;
	size_t cap, head, count;
	bool closed;
	struct ts_waiter *getters, *putters;
};

ts_queue *ts_queue_new(size_t capacity)
{
	ts_queue *q = calloc(1, sizeof(*q));
	if (!q || !capacity)
		goto fail;
	q->items = calloc(capacity, sizeof(void *));
	if (!q->items)
		goto fail;
	q->cap = capacity;
	pthread_mutex_init(&q->lock, NULL);
	return q;
fail:
	free(q);
	errno = capacity ? ENOMEM : EINVAL;
	return NULL;
}

void ts_queue_free(ts_queue *q)
{
	if (!q)
		return;
	pthread_mutex_destroy(&q->lock);
	free(q->items);
	free(q);
}

/* Wait on `list` under q->lock; returns with the lock held. */
static int queue_wait(ts_queue *q, struct ts_waiter **list)
{
	ts_task *self = ts_current_task();
	struct ts_waiter w = { 0 };
	ts__waiter_add(list, &w, self, ts__wait_begin(self));
	pthread_mutex_unlock(&q->lock);
	int err = ts__suspend(TS_WAIT_QUEUE, (uint64_t)(uintptr_t)q);
	pthread_mutex_lock(&q->lock);
	/* Picked by a put/get but leaving anyway (cancelled): pass the wake-up on, or an item
	 * (or a free slot) would sit there while another task sleeps. */
	if (err && !w.pprev)
		ts__waiters_wake_one(list, 0);
	ts__waiter_del(&w);
	return err;
}

int ts_queue_put(ts_queue *q, void *item)
{
	if (!ts_current_task())
		return -EPERM;
	int err = 0;
	pthread_mutex_lock(&q->lock);
	while (!q->closed && q->count == q->cap && !err)
		err = queue_wait(q, &q->putters);
	if (!err && q->closed)
		err = -EPIPE;
	if (!err) {
		q->items[(q->head + q->count++) % q->cap] = item;
		ts__waiters_wake_one(&q->getters, 0);
	}
	pthread_mutex_unlock(&q->lock);
	return err;
}

int ts_queue_get(ts_queue *q, void **item)
{
	if (!ts_current_task())
		return -EPERM;
	int err = 0;
	pthread_mutex_lock(&q->lock);
	while (!q->closed && q->count == 0 && !err)
		err = queue_wait(q, &q->getters);
	if (!err && q->count == 0)
		err = -EPIPE; /* closed and drained */
	if (!err) {
		*item = q->items[q->head];
		q->head = (q->head + 1) % q->cap;
		q->count--;
		ts__waiters_wake_one(&q->putters, 0);
	}
	pthread_mutex_unlock(&q->lock);
	return err;
}

void ts_queue_close(ts_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	ts__waiters_wake_all(&q->getters, 0);
	ts__waiters_wake_all(&q->putters, 0);
	pthread_mutex_unlock(&q->lock);
}

struct ts_event {
	pthread_mutex_t lock;
	bool set;
	struct ts_waiter *waiters;
};

ts_event *ts_event_new(void)
{
	ts_event *e = calloc(1, sizeof(*e));
	if (e)
		pthread_mutex_init(&e->lock, NULL);
	return e;
}

void ts_event_free(ts_event *e)
{
	if (!e)
		return;
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void ts_event_set(ts_event *e)
{
	pthread_mutex_lock(&e->lock);
	e->set = true;
	ts__waiters_wake_all(&e->waiters, 0);
	pthread_mutex_unlock(&e->lock);
}

void ts_event_clear(ts_event *e)
{
	pthread_mutex_lock(&e->lock);
	e->set = false;
	pthread_mutex_unlock(&e->lock);
}

int ts_event_is_set(ts_event *e)
{
	pthread_mutex_lock(&e->lock);
	bool set = e->set;
	pthread_mutex_unlock(&e->lock);
	return set;
}

int ts_event_wait(ts_event *e)
{
	ts_task *self = ts_current_task();
	if (!self)
		return -EPERM;
	int err = 0;
	pthread_mutex_lock(&e->lock);
	if (!e->set) {
		struct ts_waiter w = { 0 };
		ts__waiter_add(&e->waiters, &w, self, ts__wait_begin(self));
		pthread_mutex_unlock(&e->lock);
		err = ts__suspend(TS_WAIT_EVENT, (uint64_t)(uintptr_t)e);
		pthread_mutex_lock(&e->lock);
		ts__waiter_del(&w);
	}
	pthread_mutex_unlock(&e->lock);
	return err;
}
