/*
 * src/workpool.c: see workpool.h.
 *
 *   loop thread                         pool threads
 *   -----------                         ------------
 *   submit() --> queue (mutex+cond) --> take a grab, run() each job
 *   async_cb(): done() on each  <-- done list (mutex) <-- append, uv_async_send
 *
 * Invariants:
 *  - queue, queued, bulk queue, done list and stop are touched only under
 *    mutex; pending only on the loop thread;
 *  - the n_threads normal threads take only normal jobs (a grab at a
 *    time), the bulk thread only bulk jobs (one at a time);
 *  - every submitted job is in exactly one of: queue, bulk queue, a
 *    thread's grab, the done list, until its done() runs; the pool never
 *    touches it after;
 *  - the async handle is referenced exactly while pending > 0, so an idle
 *    pool does not keep the loop alive.
 */
#include "src/workpool.h"

#include <assert.h>
#include <stdlib.h>
#ifdef __linux__
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

struct rumor_workpool {
	uv_loop_t *loop;
	rumor_work_fn run, done;
	void *arg;
	unsigned n_threads;
	uv_thread_t threads[RUMOR_WORKPOOL_THREADS_MAX];
	uv_thread_t bulk_thread;

	uv_mutex_t mutex;
	uv_cond_t cond;
	struct rumor_work *queue_head, *queue_tail;
	size_t queued;
	struct rumor_work *bulk_head, *bulk_tail;
	uv_cond_t bulk_cond;
	struct rumor_work *done_head, *done_tail;
	int stop;

	uv_async_t async;
	size_t pending;
};

static void append(struct rumor_work **head, struct rumor_work **tail, struct rumor_work *first,
		   struct rumor_work *last)
{
	if (*tail)
		(*tail)->next = first;
	else
		*head = first;
	*tail = last;
}

static void worker_main(void *arg)
{
	struct rumor_workpool *pool = arg;

	uv_mutex_lock(&pool->mutex);
	for (;;) {
		while (!pool->queue_head && !pool->stop)
			uv_cond_wait(&pool->cond, &pool->mutex);
		if (!pool->queue_head)
			break; /* stopping: close() runs only with nothing queued */
		size_t grab = (pool->queued + pool->n_threads - 1) / pool->n_threads;
		if (grab > RUMOR_WORKPOOL_GRAB_MAX)
			grab = RUMOR_WORKPOOL_GRAB_MAX;
		struct rumor_work *first = pool->queue_head, *last = first;
		for (size_t i = 1; i < grab; i++)
			last = last->next;
		pool->queue_head = last->next;
		if (!pool->queue_head)
			pool->queue_tail = NULL;
		last->next = NULL;
		pool->queued -= grab;
		uv_mutex_unlock(&pool->mutex);

		for (struct rumor_work *w = first; w; w = w->next)
			pool->run(w, pool->arg);

		uv_mutex_lock(&pool->mutex);
		append(&pool->done_head, &pool->done_tail, first, last);
		uv_async_send(&pool->async);
	}
	uv_mutex_unlock(&pool->mutex);
}

static void bulk_main(void *arg)
{
	struct rumor_workpool *pool = arg;

#ifdef __linux__
	/* This thread only (Linux: a thread's nice value is its own).  A
	 * failure leaves it at the process's priority: slower for others,
	 * nothing worse. */
	id_t tid = (id_t)syscall(SYS_gettid);
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, tid);
	if (errno == 0) {
		nice += RUMOR_WORKPOOL_BULK_NICE;
		(void)setpriority(PRIO_PROCESS, tid, nice > 19 ? 19 : nice);
	}
#endif
	uv_mutex_lock(&pool->mutex);
	for (;;) {
		while (!pool->bulk_head && !pool->stop)
			uv_cond_wait(&pool->bulk_cond, &pool->mutex);
		if (!pool->bulk_head)
			break;
		struct rumor_work *w = pool->bulk_head;
		pool->bulk_head = w->next;
		if (!pool->bulk_head)
			pool->bulk_tail = NULL;
		w->next = NULL;
		uv_mutex_unlock(&pool->mutex);

		pool->run(w, pool->arg);

		uv_mutex_lock(&pool->mutex);
		append(&pool->done_head, &pool->done_tail, w, w);
		uv_async_send(&pool->async);
	}
	uv_mutex_unlock(&pool->mutex);
}

/* done() on each job, popping one at a time: a done() may cancel or
 * submit. */
static void run_done(struct rumor_workpool *pool, struct rumor_work *list)
{
	while (list) {
		struct rumor_work *w = list;
		list = w->next;
		w->next = NULL;
		assert(pool->pending > 0);
		if (--pool->pending == 0)
			uv_unref((uv_handle_t *)&pool->async);
		pool->done(w, pool->arg);
	}
}

static void async_cb(uv_async_t *handle)
{
	struct rumor_workpool *pool = handle->data;

	uv_mutex_lock(&pool->mutex);
	struct rumor_work *list = pool->done_head;
	pool->done_head = pool->done_tail = NULL;
	uv_mutex_unlock(&pool->mutex);
	run_done(pool, list);
}

static void stop_threads(struct rumor_workpool *pool, unsigned started, int bulk_started)
{
	uv_mutex_lock(&pool->mutex);
	pool->stop = 1;
	uv_cond_broadcast(&pool->cond);
	uv_cond_broadcast(&pool->bulk_cond);
	uv_mutex_unlock(&pool->mutex);
	for (unsigned i = 0; i < started; i++)
		uv_thread_join(&pool->threads[i]);
	if (bulk_started)
		uv_thread_join(&pool->bulk_thread);
}

int rumor_workpool_new(struct rumor_workpool **out, uv_loop_t *loop, unsigned threads,
		       rumor_work_fn run, rumor_work_fn done, void *arg)
{
	*out = NULL;
	if (threads < 1 || threads > RUMOR_WORKPOOL_THREADS_MAX || !run || !done)
		return UV_EINVAL;
	struct rumor_workpool *pool = calloc(1, sizeof(*pool));
	if (!pool)
		return UV_ENOMEM;
	pool->loop = loop;
	pool->run = run;
	pool->done = done;
	pool->arg = arg;
	pool->n_threads = threads;

	unsigned started = 0;
	int bulk_started = 0;
	int rc = uv_mutex_init(&pool->mutex);
	if (rc < 0)
		goto fail_free;
	if ((rc = uv_cond_init(&pool->cond)) < 0)
		goto fail_mutex;
	if ((rc = uv_cond_init(&pool->bulk_cond)) < 0)
		goto fail_cond;
	/* Threads send on the async handle only after a job, and there is none
	 * before new() returns: so a failed uv_async_init can still stop them
	 * without leaving anything on the loop. */
	for (; started < threads; started++) {
		if ((rc = uv_thread_create(&pool->threads[started], worker_main, pool)) < 0)
			goto fail_threads;
	}
	if ((rc = uv_thread_create(&pool->bulk_thread, bulk_main, pool)) < 0)
		goto fail_threads;
	bulk_started = 1;
	if ((rc = uv_async_init(loop, &pool->async, async_cb)) < 0)
		goto fail_threads;
	pool->async.data = pool;
	uv_unref((uv_handle_t *)&pool->async);
	*out = pool;
	return 0;

fail_threads:
	stop_threads(pool, started, bulk_started);
	uv_cond_destroy(&pool->bulk_cond);
fail_cond:
	uv_cond_destroy(&pool->cond);
fail_mutex:
	uv_mutex_destroy(&pool->mutex);
fail_free:
	free(pool);
	return rc;
}

void rumor_workpool_submit_list(struct rumor_workpool *pool, struct rumor_work *first, size_t n)
{
	if (n == 0)
		return;
	/* split into the two queues, keeping the order within each */
	struct rumor_work *nh = NULL, *nt = NULL, *bh = NULL, *bt = NULL;
	size_t n_normal = 0;
	struct rumor_work *w = first;
	for (size_t i = 0; i < n; i++) {
		assert(w);
		struct rumor_work *next = w->next;
		w->cancelled = 0;
		w->next = NULL;
		if (w->bulk) {
			append(&bh, &bt, w, w);
		} else {
			append(&nh, &nt, w, w);
			n_normal++;
		}
		w = next;
	}
	assert(!w);
	if (pool->pending == 0)
		uv_ref((uv_handle_t *)&pool->async);
	pool->pending += n;
	uv_mutex_lock(&pool->mutex);
	if (nh) {
		append(&pool->queue_head, &pool->queue_tail, nh, nt);
		pool->queued += n_normal;
		if (n_normal == 1)
			uv_cond_signal(&pool->cond);
		else
			uv_cond_broadcast(&pool->cond);
	}
	if (bh) {
		append(&pool->bulk_head, &pool->bulk_tail, bh, bt);
		uv_cond_signal(&pool->bulk_cond);
	}
	uv_mutex_unlock(&pool->mutex);
}

void rumor_workpool_submit(struct rumor_workpool *pool, struct rumor_work *work)
{
	work->next = NULL;
	rumor_workpool_submit_list(pool, work, 1);
}

size_t rumor_workpool_pending(const struct rumor_workpool *pool)
{
	return pool->pending;
}

unsigned rumor_workpool_threads(const struct rumor_workpool *pool)
{
	return pool->n_threads;
}

void rumor_workpool_cancel(struct rumor_workpool *pool)
{
	uv_mutex_lock(&pool->mutex);
	struct rumor_work *list = pool->queue_head;
	if (list)
		pool->queue_tail->next = pool->bulk_head;
	else
		list = pool->bulk_head;
	pool->queue_head = pool->queue_tail = NULL;
	pool->bulk_head = pool->bulk_tail = NULL;
	pool->queued = 0;
	uv_mutex_unlock(&pool->mutex);
	for (struct rumor_work *w = list; w; w = w->next)
		w->cancelled = 1;
	run_done(pool, list);
}

static void on_async_closed(uv_handle_t *handle)
{
	struct rumor_workpool *pool = handle->data;
	uv_cond_destroy(&pool->bulk_cond);
	uv_cond_destroy(&pool->cond);
	uv_mutex_destroy(&pool->mutex);
	free(pool);
}

void rumor_workpool_close(struct rumor_workpool *pool)
{
	assert(pool->pending == 0);
	stop_threads(pool, pool->n_threads, 1);
	uv_close((uv_handle_t *)&pool->async, on_async_closed);
}
