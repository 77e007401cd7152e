/*
 * net/dialer.c: see dialer.h.
 *
 * Targets live in a handle table (net/handles.h), so a stale target handle
 * from the shell (a dial that ended after its target was removed) finds
 * nothing.  Targets are few (targets_max, 256 by default): due times and
 * matching are linear scans.
 */
#include "config.h"

#include "net/dialer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rumor_dialer_init(struct rumor_dialer *d, uint32_t max_targets, uint64_t min_us,
		       uint64_t max_us)
{
	memset(d, 0, sizeof(*d));
	rumor_handles_init(&d->targets, max_targets, 16);
	d->min_us = min_us;
	d->max_us = max_us;
}

void rumor_dialer_free(struct rumor_dialer *d)
{
	for (uint32_t i = 0; i < d->targets.used; i++) {
		uint64_t h;
		free(rumor_handles_at(&d->targets, i, &h));
	}
	rumor_handles_free(&d->targets);
}

static int same_addr(const struct rumor_core_addr *a, const struct rumor_core_addr *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0 && a->has_id == b->has_id &&
	       (!a->has_id || memcmp(a->id, b->id, 32) == 0);
}

static struct rumor_dial_target *find(const struct rumor_dialer *d,
				      const struct rumor_core_addr *addr, uint64_t *handle)
{
	for (uint32_t i = 0; i < d->targets.used; i++) {
		struct rumor_dial_target *t = rumor_handles_at(&d->targets, i, handle);
		if (t && !t->onetry && same_addr(&t->addr, addr))
			return t;
	}
	return NULL;
}

int rumor_dialer_add(struct rumor_dialer *d, const struct rumor_core_addr *addr, int onetry,
		     uint64_t now_us, rumor_core_target *out)
{
	uint64_t h;
	if (!onetry && find(d, addr, &h))
		return -EEXIST;
	struct rumor_dial_target *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->addr = *addr;
	t->addr.host[sizeof(t->addr.host) - 1] = '\0';
	int v6 = strchr(t->addr.host, ':') != NULL;
	snprintf(t->label, sizeof(t->label), "%s%s%s:%u", v6 ? "[" : "", t->addr.host,
		 v6 ? "]" : "", (unsigned)t->addr.port);
	t->onetry = onetry;
	t->state = RUMOR_DIAL_WAITING;
	t->due_us = now_us;
	t->backoff_us = d->min_us;
	t->peer = RUMOR_CORE_NO_PEER;
	int rc = rumor_handles_put(&d->targets, t, &h);
	if (rc != 0) {
		free(t);
		return rc;
	}
	if (out)
		*out = (rumor_core_target)h;
	return 0;
}

int rumor_dialer_remove(struct rumor_dialer *d, const struct rumor_core_addr *addr,
			rumor_core_peer *peer)
{
	uint64_t h;
	struct rumor_dial_target *t = find(d, addr, &h);
	if (!t)
		return -ENOENT;
	*peer = t->state == RUMOR_DIAL_CONNECTED ? t->peer : RUMOR_CORE_NO_PEER;
	rumor_handles_del(&d->targets, h);
	free(t);
	return 0;
}

rumor_core_target rumor_dialer_find(const struct rumor_dialer *d,
				    const struct rumor_core_addr *addr)
{
	uint64_t h;
	return find(d, addr, &h) ? (rumor_core_target)h : RUMOR_CORE_NO_TARGET;
}

struct rumor_dial_target *rumor_dialer_get(const struct rumor_dialer *d, rumor_core_target t)
{
	if (t == RUMOR_CORE_NO_TARGET)
		return NULL;
	return rumor_handles_get(&d->targets, t);
}

struct rumor_dial_target *rumor_dialer_next_due(struct rumor_dialer *d, uint64_t now_us,
						rumor_core_target *out)
{
	for (uint32_t i = 0; i < d->targets.used; i++) {
		uint64_t h;
		struct rumor_dial_target *t = rumor_handles_at(&d->targets, i, &h);
		if (t && t->state == RUMOR_DIAL_WAITING && t->due_us <= now_us) {
			t->state = RUMOR_DIAL_DIALING;
			*out = (rumor_core_target)h;
			return t;
		}
	}
	return NULL;
}

void rumor_dialer_ended(struct rumor_dialer *d, rumor_core_target handle, uint64_t now_us)
{
	struct rumor_dial_target *t = rumor_dialer_get(d, handle);
	if (!t)
		return;
	t->peer = RUMOR_CORE_NO_PEER;
	if (t->onetry) { /* dialled once: that was all */
		rumor_handles_del(&d->targets, handle);
		free(t);
		return;
	}
	if (t->state == RUMOR_DIAL_GIVEN_UP)
		return;
	uint64_t delay = t->backoff_us;
	t->state = RUMOR_DIAL_WAITING;
	t->due_us = now_us > UINT64_MAX - delay ? UINT64_MAX : now_us + delay;
	t->backoff_us = delay * 2 > d->max_us || delay * 2 < delay ? d->max_us : delay * 2;
}

void rumor_dialer_connected(struct rumor_dialer *d, rumor_core_target handle, rumor_core_peer peer)
{
	struct rumor_dial_target *t = rumor_dialer_get(d, handle);
	if (!t)
		return;
	t->state = RUMOR_DIAL_CONNECTED;
	t->peer = peer;
	t->backoff_us = d->min_us;
}

void rumor_dialer_give_up(struct rumor_dialer *d, rumor_core_target handle)
{
	struct rumor_dial_target *t = rumor_dialer_get(d, handle);
	if (t)
		t->state = RUMOR_DIAL_GIVEN_UP;
}

uint64_t rumor_dialer_expiry(const struct rumor_dialer *d)
{
	uint64_t next = UINT64_MAX;
	for (uint32_t i = 0; i < d->targets.used; i++) {
		uint64_t h;
		struct rumor_dial_target *t = rumor_handles_at(&d->targets, i, &h);
		if (t && t->state == RUMOR_DIAL_WAITING && t->due_us < next)
			next = t->due_us;
	}
	return next;
}

size_t rumor_dialer_memory(const struct rumor_dialer *d)
{
	return rumor_handles_memory(&d->targets) + (size_t)d->targets.count * sizeof(struct rumor_dial_target);
}
