/*
 * src/workpool.h: a fixed set of threads running CPU-bound jobs (signature
 * verification) for one libuv loop.
 *
 * Why not libuv's thread pool (uv_queue_work):
 *  - that pool also runs DNS lookups and file operations; a backlog of
 *    verifications (up to RUMOR_NODE_PENDING_MAX items) would queue them
 *    behind it;
 *  - with uv_queue_work the loop thread hands out every batch, so a pool
 *    thread that finished its batch sat idle until the loop thread, busy
 *    parsing a request, came round to give it the next one.  Here a thread
 *    takes its next jobs from the shared queue itself.
 *
 * Jobs are intrusive: embed a struct rumor_work in your own struct.
 * run() is called on a pool thread; done() later on the loop thread, once
 * per job, in submission order per thread batch (not globally).  A job
 * cancelled before it started gets done() with work->cancelled = 1 and
 * run() never ran.
 *
 * A thread takes ceil(queued / threads) jobs at a time, at most
 * RUMOR_WORKPOOL_GRAB_MAX: large grabs while the queue is long (few lock
 * round trips), small ones near its end so that the threads finish
 * together.
 *
 * Bulk jobs (work->bulk set before submit: a 4 MiB block's checks take
 * tens of milliseconds, a transaction's tens of microseconds) go to a
 * thread of their own, one at a time, in submission order: the pool's
 * threads never run them, so a burst of big jobs never holds up the small
 * ones, and on Linux that thread runs at nice RUMOR_WORKPOOL_BULK_NICE
 * above the process, so when the cores are busy the loop thread and the
 * small jobs come first (a peer's flood of big blocks slows the checking
 * of those blocks, not the node).
 *
 * Threads: the loop thread calls every function here; run() must not touch
 * loop-thread state.
 */
#ifndef RUMOR_SRC_WORKPOOL_H
#define RUMOR_SRC_WORKPOOL_H

#include <stddef.h>
#include <uv.h>

#define RUMOR_WORKPOOL_GRAB_MAX 16
#define RUMOR_WORKPOOL_BULK_NICE 10
#define RUMOR_WORKPOOL_THREADS_MAX 64

struct rumor_work {
	struct rumor_work *next; /* owned by the pool from submit to done */
	int cancelled;
	int bulk; /* set by the caller: a long job (see above) */
};

typedef void (*rumor_work_fn)(struct rumor_work *work, void *arg);

struct rumor_workpool;

/* Starts `threads` threads (1..RUMOR_WORKPOOL_THREADS_MAX) and the bulk
 * thread.  Returns 0, or a negative libuv error with nothing left
 * running. */
int rumor_workpool_new(struct rumor_workpool **out, uv_loop_t *loop, unsigned threads,
		       rumor_work_fn run, rumor_work_fn done, void *arg);

/* Queues a job.  Never fails: the caller bounds how many it submits. */
void rumor_workpool_submit(struct rumor_workpool *pool, struct rumor_work *work);
/* Queues n jobs linked through their `next` (the last one's NULL) with
 * one lock and one wake-up of the threads: the threads then take them in
 * grabs, instead of waking for the first job alone. */
void rumor_workpool_submit_list(struct rumor_workpool *pool, struct rumor_work *first, size_t n);

/* Jobs submitted whose done() has not run yet. */
size_t rumor_workpool_pending(const struct rumor_workpool *pool);

/* Takes back every job not yet started and calls done() on each, with
 * cancelled = 1, before returning.  Jobs running finish normally. */
void rumor_workpool_cancel(struct rumor_workpool *pool);

/* Stops and joins the threads and frees the pool once its handle closed.
 * Only with nothing pending (cancel, then wait for running jobs' done). */
void rumor_workpool_close(struct rumor_workpool *pool);

/* The threads for normal jobs (the bulk thread not counted). */
unsigned rumor_workpool_threads(const struct rumor_workpool *pool);

#endif
