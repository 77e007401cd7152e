/*
 * test/unit/test_workpool.c: src/workpool.c on a real loop with real
 * threads.  Every job runs once on a pool thread and is done once on the
 * loop thread; cancel takes back exactly the jobs not started; an idle pool
 * lets uv_run return; close joins the threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "src/workpool.h"

#define JOBS 1000

struct job {
	struct rumor_work work;
	int index;
	int runs;           /* written by the pool thread that ran it */
	int ran_on_loop;    /* run() saw the loop thread: must stay 0 */
	int dones;
	int cancelled_seen;
	int nice; /* the running thread's nice value (Linux) */
};

#define JOB_OF(w) ((struct job *)((char *)(w)-offsetof(struct job, work)))

struct ctx {
	uv_thread_t loop_thread;
	uv_sem_t gate_entered; /* a gated job has started */
	uv_sem_t gate_open;    /* the gated job may finish */
	int gate_index;        /* the job that waits on the gate, or -1 */
	int done_total;
	int done_order_ok;
	struct rumor_workpool *pool;
	int close_after; /* close the pool from done() when done_total reaches it */
};

static void run_job(struct rumor_work *w, void *arg)
{
	struct ctx *c = arg;
	struct job *j = JOB_OF(w);
	uv_thread_t self = uv_thread_self();
	if (uv_thread_equal(&self, &c->loop_thread))
		j->ran_on_loop = 1;
#ifdef __linux__
	j->nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
#endif
	if (j->index == c->gate_index) {
		uv_sem_post(&c->gate_entered);
		uv_sem_wait(&c->gate_open);
	}
	j->runs++;
}

static void done_job(struct rumor_work *w, void *arg)
{
	struct ctx *c = arg;
	struct job *j = JOB_OF(w);
	uv_thread_t self = uv_thread_self();
	if (!uv_thread_equal(&self, &c->loop_thread))
		c->done_order_ok = 0;
	j->dones++;
	j->cancelled_seen = w->cancelled;
	c->done_total++;
	if (c->close_after && c->done_total == c->close_after)
		rumor_workpool_close(c->pool);
}

static void ctx_init(struct ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->loop_thread = uv_thread_self();
	c->gate_index = -1;
	c->done_order_ok = 1;
	assert_int_equal(uv_sem_init(&c->gate_entered, 0), 0);
	assert_int_equal(uv_sem_init(&c->gate_open, 0), 0);
}

static void ctx_free(struct ctx *c)
{
	uv_sem_destroy(&c->gate_entered);
	uv_sem_destroy(&c->gate_open);
}

static void test_every_job_runs_and_is_done_once(void **state)
{
	(void)state;
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct ctx c;
	ctx_init(&c);
	struct job *jobs = calloc(JOBS, sizeof(*jobs));
	assert_non_null(jobs);
	assert_int_equal(rumor_workpool_new(&c.pool, &loop, 3, run_job, done_job, &c), 0);
	assert_int_equal(rumor_workpool_threads(c.pool), 3);
	assert_int_equal(rumor_workpool_pending(c.pool), 0);

	for (int i = 0; i < JOBS; i++) {
		jobs[i].index = i;
		rumor_workpool_submit(c.pool, &jobs[i].work);
	}
	assert_int_equal(rumor_workpool_pending(c.pool), JOBS);
	/* The pool's handle is referenced while jobs are pending, so this
	 * returns only once every done() ran. */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(rumor_workpool_pending(c.pool), 0);
	assert_int_equal(c.done_total, JOBS);
	assert_true(c.done_order_ok);
	for (int i = 0; i < JOBS; i++) {
		assert_int_equal(jobs[i].runs, 1);
		assert_int_equal(jobs[i].dones, 1);
		assert_int_equal(jobs[i].ran_on_loop, 0);
		assert_int_equal(jobs[i].cancelled_seen, 0);
	}

	/* A list at once, as the node hands over an RPC request's items. */
	for (int i = 0; i < 100; i++)
		jobs[i].work.next = i + 1 < 100 ? &jobs[i + 1].work : NULL;
	rumor_workpool_submit_list(c.pool, &jobs[0].work, 100);
	assert_int_equal(rumor_workpool_pending(c.pool), 100);
	rumor_workpool_submit_list(c.pool, NULL, 0); /* nothing */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(c.done_total, JOBS + 100);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(jobs[i].runs, 2);
		assert_int_equal(jobs[i].dones, 2);
	}
	for (int i = 100; i < JOBS; i++)
		assert_int_equal(jobs[i].runs, 1);

	/* Reusable after going idle. */
	for (int i = 0; i < 10; i++)
		rumor_workpool_submit(c.pool, &jobs[i].work);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(c.done_total, JOBS + 110);
	assert_int_equal(jobs[0].runs, 3);

	rumor_workpool_close(c.pool);
	uv_run(&loop, UV_RUN_DEFAULT); /* the handle closes, the pool is freed */
	assert_int_equal(uv_loop_close(&loop), 0);
	free(jobs);
	ctx_free(&c);
}

static void test_cancel_takes_back_jobs_not_started(void **state)
{
	(void)state;
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct ctx c;
	ctx_init(&c);
	struct job jobs[50];
	memset(jobs, 0, sizeof(jobs));
	/* One thread, held inside job 0: jobs 1.. cannot start. */
	assert_int_equal(rumor_workpool_new(&c.pool, &loop, 1, run_job, done_job, &c), 0);
	c.gate_index = 0;
	jobs[0].index = 0;
	rumor_workpool_submit(c.pool, &jobs[0].work);
	uv_sem_wait(&c.gate_entered);
	for (int i = 1; i < 50; i++) {
		jobs[i].index = i;
		rumor_workpool_submit(c.pool, &jobs[i].work);
	}
	rumor_workpool_cancel(c.pool);
	/* Cancelled jobs are done before cancel returns; the running one is
	 * still pending. */
	assert_int_equal(c.done_total, 49);
	assert_int_equal(rumor_workpool_pending(c.pool), 1);
	for (int i = 1; i < 50; i++) {
		assert_int_equal(jobs[i].runs, 0);
		assert_int_equal(jobs[i].dones, 1);
		assert_int_equal(jobs[i].cancelled_seen, 1);
	}
	assert_int_equal(jobs[0].dones, 0);

	uv_sem_post(&c.gate_open);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(jobs[0].runs, 1);
	assert_int_equal(jobs[0].dones, 1);
	assert_int_equal(jobs[0].cancelled_seen, 0);
	assert_int_equal(rumor_workpool_pending(c.pool), 0);

	rumor_workpool_close(c.pool);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	ctx_free(&c);
}

/* The node closes the pool from the done() of its last job. */
static void on_tick(uv_timer_t *t)
{
	(void)t; /* only wakes the loop, so the test's bound is checked */
}

/* Bulk jobs run on the bulk thread, one at a time: with the pool's one
 * thread free, the normal jobs queued behind a held bulk job all run;
 * cancel takes bulk jobs back too. */
static void test_bulk_jobs_own_thread(void **state)
{
	(void)state;
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	uv_timer_t tick;
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, on_tick, 50, 50);
	uv_unref((uv_handle_t *)&tick);
	struct ctx c;
	ctx_init(&c);
	enum { N = 22 };
	struct job jobs[N];
	memset(jobs, 0, sizeof(jobs));
	assert_int_equal(rumor_workpool_new(&c.pool, &loop, 1, run_job, done_job, &c), 0);
	for (int i = 0; i < N; i++)
		jobs[i].index = i;
	/* bulk job 0 holds a thread; bulk job 1 and 20 normal ones follow, in
	 * one list */
	c.gate_index = 0;
	jobs[0].work.bulk = jobs[1].work.bulk = 1;
	rumor_workpool_submit(c.pool, &jobs[0].work);
	uv_sem_wait(&c.gate_entered);
	for (int i = 1; i < 21; i++)
		jobs[i].work.next = &jobs[i + 1].work;
	jobs[21].work.next = NULL;
	rumor_workpool_submit_list(c.pool, &jobs[1].work, 21);
	uint64_t start = uv_now(&loop);
	while (c.done_total < 20 && uv_now(&loop) - start < 60000)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(c.done_total, 20); /* the normal ones, bulk 0 still held */
	for (int i = 2; i < N; i++)
		assert_int_equal(jobs[i].dones, 1);
	assert_int_equal(jobs[0].dones, 0);
	assert_int_equal(jobs[1].runs, 0); /* one bulk job at a time */
	/* cancel: bulk job 1 comes back */
	rumor_workpool_cancel(c.pool);
	assert_int_equal(jobs[1].dones, 1);
	assert_int_equal(jobs[1].cancelled_seen, 1);
	assert_int_equal(rumor_workpool_pending(c.pool), 1);
	uv_sem_post(&c.gate_open);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(jobs[0].runs, 1);
	assert_int_equal(jobs[0].dones, 1);
#ifdef __linux__
	/* the bulk thread runs below the process's priority, the others at it */
	int base = getpriority(PRIO_PROCESS, 0);
	int want = base + RUMOR_WORKPOOL_BULK_NICE > 19 ? 19 : base + RUMOR_WORKPOOL_BULK_NICE;
	assert_int_equal(jobs[0].nice, want);
	for (int i = 2; i < N; i++)
		assert_int_equal(jobs[i].nice, base);
#endif
	/* and a later bulk job runs */
	c.gate_index = -1;
	jobs[1].work.bulk = 1;
	rumor_workpool_submit(c.pool, &jobs[1].work);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(jobs[1].runs, 1);
	assert_int_equal(jobs[1].dones, 2);
	rumor_workpool_close(c.pool);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	ctx_free(&c);
}

static void test_close_from_last_done(void **state)
{
	(void)state;
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct ctx c;
	ctx_init(&c);
	struct job jobs[20];
	memset(jobs, 0, sizeof(jobs));
	assert_int_equal(rumor_workpool_new(&c.pool, &loop, 2, run_job, done_job, &c), 0);
	c.close_after = 20;
	for (int i = 0; i < 20; i++) {
		jobs[i].index = i;
		rumor_workpool_submit(c.pool, &jobs[i].work);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(c.done_total, 20);
	assert_int_equal(uv_loop_close(&loop), 0); /* nothing left on the loop */
	ctx_free(&c);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct ctx c;
	ctx_init(&c);
	struct rumor_workpool *pool = (struct rumor_workpool *)&c; /* must be reset */
	assert_int_equal(rumor_workpool_new(&pool, &loop, 0, run_job, done_job, &c), UV_EINVAL);
	assert_null(pool);
	assert_int_equal(rumor_workpool_new(&pool, &loop, RUMOR_WORKPOOL_THREADS_MAX + 1, run_job,
					    done_job, &c),
			 UV_EINVAL);
	assert_int_equal(rumor_workpool_new(&pool, &loop, 1, NULL, done_job, &c), UV_EINVAL);
	assert_int_equal(uv_loop_close(&loop), 0);
	ctx_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_job_runs_and_is_done_once),
		cmocka_unit_test(test_cancel_takes_back_jobs_not_started),
		cmocka_unit_test(test_bulk_jobs_own_thread),
		cmocka_unit_test(test_close_from_last_done),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
