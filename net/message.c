/*
 * net/message.c: the message codec, driven by one schema table.
 *
 * Each message type has a schema: an ordered list of fields, each with a
 * kind, its place in the decoded struct (offsetof) and a cap.  List fields
 * point at an entry schema (fixed-size entries, all of scalar or fixed-bytes
 * fields) with a value check.  Three walkers use the table:
 *   measure()  exact encoded size, and every check the decoder would make,
 *              so an encodable message always decodes;
 *   write()    the bytes, after measure() has passed;
 *   read()     the decoder: every length or count is compared with its cap
 *              and with the bytes left BEFORE it is used to loop or index.
 * Integers are little-endian, as in the item formats.  See net/message.h
 * for the API and ownership, doc/protocol.md ("Transport") for the layout.
 */
#include "net/message.h"

#include <assert.h>
#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <string.h>

enum field_kind {
	FIELD_U8,
	FIELD_U16,
	FIELD_U32,
	FIELD_U64,
	FIELD_FIXED,  /* cap = exact size in bytes */
	FIELD_STRING, /* u16 length + UTF-8; cap = max bytes */
	FIELD_BLOB,   /* u32 length + bytes; cap = max bytes */
	FIELD_LIST,   /* u32 count + fixed-size entries; cap = max count */
};

struct schema;

struct field {
	enum field_kind kind;
	size_t offset;               /* in the body (or entry) struct */
	uint32_t cap;                /* see enum field_kind */
	const struct schema *entry;  /* FIELD_LIST only */
	const char *over_cap;        /* reason when a length or count passes cap */
};

struct schema {
	const char *name;
	const struct field *fields;
	size_t n_fields;
	/* Entry schemas only: */
	size_t wire_size;
	const char *(*check)(const void *entry); /* NULL when fine, else a reason */
};

/* ---- entry schemas ---- */

static const char *check_inv_entry(const void *p)
{
	const struct rumor_inv_entry *e = p;

	if (e->kind != RUMOR_ITEM_TX && e->kind != RUMOR_ITEM_BLOCK)
		return "inventory entry has an unknown item kind";
	return NULL;
}

static const char *check_addr_entry(const void *p)
{
	static const uint8_t zero[12];
	const struct rumor_addr_entry *e = p;

	if (e->family == RUMOR_ADDR_IPV4) {
		if (memcmp(e->address + 4, zero, sizeof(zero)) != 0)
			return "addr entry: IPv4 address with nonzero padding";
		return NULL;
	}
	if (e->family == RUMOR_ADDR_IPV6)
		return NULL;
	return "addr entry: address family is neither 4 nor 6";
}

static const struct field inv_entry_fields[] = {
	{ FIELD_U8, offsetof(struct rumor_inv_entry, kind), 0, NULL, NULL },
	{ FIELD_FIXED, offsetof(struct rumor_inv_entry, id), RUMOR_ID_SIZE, NULL, NULL },
};
static const struct schema inv_entry_schema = {
	"inventory entry", inv_entry_fields, 2, RUMOR_MSG_INV_ENTRY_SIZE, check_inv_entry,
};

static const struct field addr_entry_fields[] = {
	{ FIELD_U8, offsetof(struct rumor_addr_entry, family), 0, NULL, NULL },
	{ FIELD_FIXED, offsetof(struct rumor_addr_entry, address), 16, NULL, NULL },
	{ FIELD_U16, offsetof(struct rumor_addr_entry, port), 0, NULL, NULL },
	{ FIELD_U64, offsetof(struct rumor_addr_entry, last_seen), 0, NULL, NULL },
	{ FIELD_FIXED, offsetof(struct rumor_addr_entry, node_id), RUMOR_ID_SIZE, NULL, NULL },
};
static const struct schema addr_entry_schema = {
	"addr entry", addr_entry_fields, 5, RUMOR_MSG_ADDR_ENTRY_SIZE, check_addr_entry,
};

/* ---- message schemas ---- */

#define HELLO(f) offsetof(struct rumor_msg_hello, f)
static const struct field hello_fields[] = {
	{ FIELD_U32, HELLO(version), 0, NULL, NULL },
	{ FIELD_STRING, HELLO(network), RUMOR_MSG_NETWORK_MAX, NULL, "hello: network name too long" },
	{ FIELD_U64, HELLO(services), 0, NULL, NULL },
	{ FIELD_U64, HELLO(best_height), 0, NULL, NULL },
	{ FIELD_STRING, HELLO(user_agent), RUMOR_MSG_USER_AGENT_MAX, NULL,
	  "hello: user agent too long" },
	{ FIELD_U16, HELLO(port), 0, NULL, NULL },
	{ FIELD_U64, HELLO(timestamp), 0, NULL, NULL },
	{ FIELD_U64, HELLO(nonce), 0, NULL, NULL },
};
#undef HELLO

static const struct field nonce_fields[] = {
	{ FIELD_U64, offsetof(struct rumor_msg_nonce, nonce), 0, NULL, NULL },
};
static const struct field inventory_fields[] = {
	{ FIELD_LIST, offsetof(struct rumor_msg_inventory, entries), RUMOR_MSG_INV_MAX,
	  &inv_entry_schema, "inventory: too many entries" },
};
static const struct field tx_fields[] = {
	{ FIELD_BLOB, offsetof(struct rumor_msg_item, item), RUMOR_MSG_TX_MAX, NULL,
	  "tx: item larger than the transaction limit" },
};
static const struct field block_fields[] = {
	{ FIELD_BLOB, offsetof(struct rumor_msg_item, item), RUMOR_MSG_BLOCK_MAX, NULL,
	  "block: item larger than the block limit" },
};
static const struct field addr_fields[] = {
	{ FIELD_LIST, offsetof(struct rumor_msg_addr, entries), RUMOR_MSG_ADDR_MAX,
	  &addr_entry_schema, "addr: too many entries" },
};
static const struct field disconnect_fields[] = {
	{ FIELD_U16, offsetof(struct rumor_msg_disconnect, code), 0, NULL, NULL },
	{ FIELD_STRING, offsetof(struct rumor_msg_disconnect, reason), RUMOR_MSG_REASON_MAX, NULL,
	  "disconnect: reason too long" },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))
/* Indexed by type number; [0] is unused. */
static const struct schema message_schemas[RUMOR_MSG_TYPE_LAST + 1] = {
	[RUMOR_MSG_HELLO] = { "hello", hello_fields, N(hello_fields), 0, NULL },
	[RUMOR_MSG_PING] = { "ping", nonce_fields, N(nonce_fields), 0, NULL },
	[RUMOR_MSG_PONG] = { "pong", nonce_fields, N(nonce_fields), 0, NULL },
	[RUMOR_MSG_INV] = { "inv", inventory_fields, N(inventory_fields), 0, NULL },
	[RUMOR_MSG_GETDATA] = { "getdata", inventory_fields, N(inventory_fields), 0, NULL },
	[RUMOR_MSG_NOTFOUND] = { "notfound", inventory_fields, N(inventory_fields), 0, NULL },
	[RUMOR_MSG_TX] = { "tx", tx_fields, N(tx_fields), 0, NULL },
	[RUMOR_MSG_BLOCK] = { "block", block_fields, N(block_fields), 0, NULL },
	[RUMOR_MSG_GETADDR] = { "getaddr", NULL, 0, 0, NULL },
	[RUMOR_MSG_ADDR] = { "addr", addr_fields, N(addr_fields), 0, NULL },
	[RUMOR_MSG_DISCONNECT] = { "disconnect", disconnect_fields, N(disconnect_fields), 0, NULL },
};
#undef N

/* Pin the wire sizes the header and the doc promise. */
_Static_assert(RUMOR_MSG_INV_ENTRY_SIZE == 1 + RUMOR_ID_SIZE, "inv entry size");
_Static_assert(RUMOR_MSG_ADDR_ENTRY_SIZE == 1 + 16 + 2 + 8 + RUMOR_ID_SIZE, "addr entry size");
_Static_assert(RUMOR_MSG_ENVELOPE_SIZE == 2 + 1, "envelope size");
_Static_assert(RUMOR_MSG_SIZE_MAX == 3 + 4 + 4u * 1024u * 1024u, "largest message is a block");
_Static_assert((uint64_t)RUMOR_MSG_INV_MAX * RUMOR_MSG_INV_ENTRY_SIZE + 7 < RUMOR_MSG_SIZE_MAX,
	       "a full inv fits the message limit");
_Static_assert((uint64_t)RUMOR_MSG_ADDR_MAX * RUMOR_MSG_ADDR_ENTRY_SIZE + 7 < RUMOR_MSG_SIZE_MAX,
	       "a full addr fits the message limit");
_Static_assert(RUMOR_MSG_USER_AGENT_MAX <= UINT16_MAX && RUMOR_MSG_REASON_MAX <= UINT16_MAX,
	       "string caps fit the u16 length");

/* Scratch big enough for any entry struct. */
#define ENTRY_SCRATCH 128
_Static_assert(sizeof(struct rumor_inv_entry) <= ENTRY_SCRATCH, "scratch");
_Static_assert(sizeof(struct rumor_addr_entry) <= ENTRY_SCRATCH, "scratch");

static const struct schema *schema_of(uint16_t type)
{
	if (type == 0 || type > RUMOR_MSG_TYPE_LAST)
		return NULL;
	return &message_schemas[type];
}

const char *rumor_msg_type_name(uint16_t type)
{
	const struct schema *s = schema_of(type);

	return s ? s->name : NULL;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF. */
static int utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		size_t n;
		uint8_t lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return 0;
		}
		if (len - i - 1 < n)
			return 0;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (size_t k = 2; k <= n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return 0;
		i += n + 1;
	}
	return 1;
}

static uint64_t get_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = n; i > 0; i--)
		v = (v << 8) | p[i - 1];
	return v;
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static size_t scalar_size(enum field_kind kind)
{
	switch (kind) {
	case FIELD_U8:
		return 1;
	case FIELD_U16:
		return 2;
	case FIELD_U32:
		return 4;
	case FIELD_U64:
		return 8;
	case FIELD_FIXED:
	case FIELD_STRING:
	case FIELD_BLOB:
	case FIELD_LIST:
		break;
	}
	return 0;
}

static uint64_t load_scalar(const void *st, const struct field *f)
{
	const uint8_t *p = (const uint8_t *)st + f->offset;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64 = 0;

	switch (f->kind) {
	case FIELD_U8:
		memcpy(&u8, p, 1);
		return u8;
	case FIELD_U16:
		memcpy(&u16, p, 2);
		return u16;
	case FIELD_U32:
		memcpy(&u32, p, 4);
		return u32;
	case FIELD_U64:
		memcpy(&u64, p, 8);
		return u64;
	case FIELD_FIXED:
	case FIELD_STRING:
	case FIELD_BLOB:
	case FIELD_LIST:
		break;
	}
	assert(!"not a scalar field");
	return 0;
}

static void store_scalar(void *st, const struct field *f, uint64_t v)
{
	uint8_t *p = (uint8_t *)st + f->offset;
	uint8_t u8 = (uint8_t)v;
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;

	switch (f->kind) {
	case FIELD_U8:
		memcpy(p, &u8, 1);
		return;
	case FIELD_U16:
		memcpy(p, &u16, 2);
		return;
	case FIELD_U32:
		memcpy(p, &u32, 4);
		return;
	case FIELD_U64:
		memcpy(p, &v, 8);
		return;
	case FIELD_FIXED:
	case FIELD_STRING:
	case FIELD_BLOB:
	case FIELD_LIST:
		break;
	}
	assert(!"not a scalar field");
}

/* ---- entries (fixed size, scalar and fixed-bytes fields only) ---- */

static void entry_read(const struct schema *s, const uint8_t *p, void *out)
{
	for (size_t i = 0; i < s->n_fields; i++) {
		const struct field *f = &s->fields[i];

		if (f->kind == FIELD_FIXED) {
			memcpy((uint8_t *)out + f->offset, p, f->cap);
			p += f->cap;
		} else {
			size_t n = scalar_size(f->kind);

			assert(n > 0);
			store_scalar(out, f, get_le(p, n));
			p += n;
		}
	}
}

static void entry_write(const struct schema *s, const void *in, uint8_t *p)
{
	for (size_t i = 0; i < s->n_fields; i++) {
		const struct field *f = &s->fields[i];

		if (f->kind == FIELD_FIXED) {
			memcpy(p, (const uint8_t *)in + f->offset, f->cap);
			p += f->cap;
		} else {
			size_t n = scalar_size(f->kind);

			assert(n > 0);
			put_le(p, load_scalar(in, f), n);
			p += n;
		}
	}
}

/* Entry i of a list, as a struct, into out (sizeof entry struct). */
static void list_entry(const struct schema *s, size_t struct_size, const struct rumor_msg_list *l,
		       uint32_t i, void *out)
{
	assert(i < l->count);
	if (l->entries)
		memcpy(out, (const uint8_t *)l->entries + (size_t)i * struct_size, struct_size);
	else
		entry_read(s, l->raw + (size_t)i * s->wire_size, out);
}

static size_t entry_struct_size(const struct schema *s)
{
	if (s == &inv_entry_schema)
		return sizeof(struct rumor_inv_entry);
	assert(s == &addr_entry_schema);
	return sizeof(struct rumor_addr_entry);
}

void rumor_msg_inv_entry(const struct rumor_msg_list *list, uint32_t i, struct rumor_inv_entry *out)
{
	list_entry(&inv_entry_schema, sizeof(*out), list, i, out);
}

void rumor_msg_addr_entry(const struct rumor_msg_list *list, uint32_t i,
			  struct rumor_addr_entry *out)
{
	list_entry(&addr_entry_schema, sizeof(*out), list, i, out);
}

/* ---- measure and write ---- */

static int measure(const struct schema *s, const void *body, size_t *size)
{
	size_t total = 0;

	for (size_t i = 0; i < s->n_fields; i++) {
		const struct field *f = &s->fields[i];
		const uint8_t *at = (const uint8_t *)body + f->offset;

		switch (f->kind) {
		case FIELD_U8:
		case FIELD_U16:
		case FIELD_U32:
		case FIELD_U64:
			total += scalar_size(f->kind);
			break;
		case FIELD_FIXED:
			total += f->cap;
			break;
		case FIELD_STRING: {
			struct rumor_msg_string str;

			memcpy(&str, at, sizeof(str));
			if (str.len > f->cap || (str.len && !str.ptr) ||
			    (str.len && !utf8_valid(str.ptr, str.len)))
				return -EINVAL;
			total += 2 + (size_t)str.len;
			break;
		}
		case FIELD_BLOB: {
			struct rumor_msg_blob blob;

			memcpy(&blob, at, sizeof(blob));
			if (blob.len > f->cap || (blob.len && !blob.ptr))
				return -EINVAL;
			total += 4 + (size_t)blob.len;
			break;
		}
		case FIELD_LIST: {
			struct rumor_msg_list list;
			alignas(max_align_t) uint8_t scratch[ENTRY_SCRATCH];
			size_t struct_size = entry_struct_size(f->entry);

			memcpy(&list, at, sizeof(list));
			if (list.count > f->cap || (list.count && !list.entries && !list.raw))
				return -EINVAL;
			for (uint32_t k = 0; k < list.count; k++) {
				list_entry(f->entry, struct_size, &list, k, scratch);
				if (f->entry->check(scratch))
					return -EINVAL;
			}
			total += 4 + (size_t)list.count * f->entry->wire_size;
			break;
		}
		}
	}
	*size = total;
	return 0;
}

static uint8_t *write_body(const struct schema *s, const void *body, uint8_t *p)
{
	for (size_t i = 0; i < s->n_fields; i++) {
		const struct field *f = &s->fields[i];
		const uint8_t *at = (const uint8_t *)body + f->offset;

		switch (f->kind) {
		case FIELD_U8:
		case FIELD_U16:
		case FIELD_U32:
		case FIELD_U64:
			put_le(p, load_scalar(body, f), scalar_size(f->kind));
			p += scalar_size(f->kind);
			break;
		case FIELD_FIXED:
			memcpy(p, at, f->cap);
			p += f->cap;
			break;
		case FIELD_STRING: {
			struct rumor_msg_string str;

			memcpy(&str, at, sizeof(str));
			put_le(p, str.len, 2);
			if (str.len)
				memcpy(p + 2, str.ptr, str.len);
			p += 2 + (size_t)str.len;
			break;
		}
		case FIELD_BLOB: {
			struct rumor_msg_blob blob;

			memcpy(&blob, at, sizeof(blob));
			put_le(p, blob.len, 4);
			if (blob.len)
				memcpy(p + 4, blob.ptr, blob.len);
			p += 4 + (size_t)blob.len;
			break;
		}
		case FIELD_LIST: {
			struct rumor_msg_list list;
			size_t esize = f->entry->wire_size;

			memcpy(&list, at, sizeof(list));
			put_le(p, list.count, 4);
			p += 4;
			if (list.entries) {
				size_t struct_size = entry_struct_size(f->entry);

				for (uint32_t k = 0; k < list.count; k++)
					entry_write(f->entry,
						    (const uint8_t *)list.entries +
							    (size_t)k * struct_size,
						    p + (size_t)k * esize);
			} else if (list.count) {
				memcpy(p, list.raw, (size_t)list.count * esize);
			}
			p += (size_t)list.count * esize;
			break;
		}
		}
	}
	return p;
}

int rumor_msg_encoded_size(const struct rumor_msg *m, size_t *size)
{
	const struct schema *s;
	size_t body;
	int rc;

	if (!m || !size)
		return -EINVAL;
	s = schema_of(m->type);
	if (!s || (m->flags & ~RUMOR_MSG_FLAGS_KNOWN))
		return -EINVAL;
	rc = measure(s, &m->u, &body);
	if (rc < 0)
		return rc;
	*size = RUMOR_MSG_ENVELOPE_SIZE + body;
	return 0;
}

int rumor_msg_encode(const struct rumor_msg *m, uint8_t *out, size_t cap, size_t *out_len)
{
	size_t size;
	uint8_t *end;
	int rc;

	if (!out || !out_len)
		return -EINVAL;
	rc = rumor_msg_encoded_size(m, &size);
	if (rc < 0)
		return rc;
	if (cap < size)
		return -ENOBUFS;
	put_le(out, m->type, 2);
	out[2] = m->flags;
	end = write_body(schema_of(m->type), &m->u, out + RUMOR_MSG_ENVELOPE_SIZE);
	assert((size_t)(end - out) == size);
	*out_len = size;
	return 0;
}

/* ---- decode ---- */

struct cursor {
	const uint8_t *p;
	size_t left;
};

static const char *read_body(const struct schema *s, struct cursor *c, void *body)
{
	static const char truncated[] = "message truncated";

	for (size_t i = 0; i < s->n_fields; i++) {
		const struct field *f = &s->fields[i];
		uint8_t *at = (uint8_t *)body + f->offset;

		switch (f->kind) {
		case FIELD_U8:
		case FIELD_U16:
		case FIELD_U32:
		case FIELD_U64: {
			size_t n = scalar_size(f->kind);

			if (c->left < n)
				return truncated;
			store_scalar(body, f, get_le(c->p, n));
			c->p += n;
			c->left -= n;
			break;
		}
		case FIELD_FIXED:
			if (c->left < f->cap)
				return truncated;
			memcpy(at, c->p, f->cap);
			c->p += f->cap;
			c->left -= f->cap;
			break;
		case FIELD_STRING: {
			struct rumor_msg_string str;

			if (c->left < 2)
				return truncated;
			str.len = (uint16_t)get_le(c->p, 2);
			if (str.len > f->cap)
				return f->over_cap;
			if (c->left - 2 < str.len)
				return truncated;
			str.ptr = c->p + 2;
			if (!utf8_valid(str.ptr, str.len))
				return "string is not valid UTF-8";
			memcpy(at, &str, sizeof(str));
			c->p += 2 + (size_t)str.len;
			c->left -= 2 + (size_t)str.len;
			break;
		}
		case FIELD_BLOB: {
			struct rumor_msg_blob blob;

			if (c->left < 4)
				return truncated;
			blob.len = (uint32_t)get_le(c->p, 4);
			if (blob.len > f->cap)
				return f->over_cap;
			if (c->left - 4 < blob.len)
				return truncated;
			blob.ptr = c->p + 4;
			memcpy(at, &blob, sizeof(blob));
			c->p += 4 + (size_t)blob.len;
			c->left -= 4 + (size_t)blob.len;
			break;
		}
		case FIELD_LIST: {
			struct rumor_msg_list list;
			alignas(max_align_t) uint8_t scratch[ENTRY_SCRATCH];
			size_t bytes;

			if (c->left < 4)
				return truncated;
			list.count = (uint32_t)get_le(c->p, 4);
			/* Cap first: count * wire_size cannot overflow after this. */
			if (list.count > f->cap)
				return f->over_cap;
			bytes = (size_t)list.count * f->entry->wire_size;
			if (c->left - 4 < bytes)
				return truncated;
			list.raw = c->p + 4;
			list.entries = NULL;
			for (uint32_t k = 0; k < list.count; k++) {
				const char *why;

				entry_read(f->entry, list.raw + (size_t)k * f->entry->wire_size,
					   scratch);
				why = f->entry->check(scratch);
				if (why)
					return why;
			}
			memcpy(at, &list, sizeof(list));
			c->p += 4 + bytes;
			c->left -= 4 + bytes;
			break;
		}
		}
	}
	return NULL;
}

const char *rumor_msg_decode(struct rumor_msg *out, const uint8_t *buf, size_t len)
{
	const struct schema *s;
	struct cursor c;
	const char *why;

	assert(out && (buf || len == 0));
	memset(out, 0, sizeof(*out));
	if (len < RUMOR_MSG_ENVELOPE_SIZE)
		return "message shorter than its envelope";
	if (len > RUMOR_MSG_SIZE_MAX)
		return "message larger than the largest message";
	out->type = (uint16_t)get_le(buf, 2);
	out->flags = buf[2];
	if (out->flags & ~RUMOR_MSG_FLAGS_KNOWN)
		return "message has reserved flag bits set";
	s = schema_of(out->type);
	if (!s) {
		if (out->flags & RUMOR_MSG_FLAG_OPTIONAL) {
			out->skipped = 1;
			return NULL;
		}
		return "unknown mandatory message type";
	}
	c.p = buf + RUMOR_MSG_ENVELOPE_SIZE;
	c.left = len - RUMOR_MSG_ENVELOPE_SIZE;
	why = read_body(s, &c, &out->u);
	if (why)
		return why;
	if (c.left != 0)
		return "trailing bytes after message";
	return NULL;
}
