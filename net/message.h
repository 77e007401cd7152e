/*
 * net/message.h: the peer-to-peer message codec (sans-IO, no allocation).
 *
 * One message is what one reassembled transport message carries (see
 * net/frame.h): an envelope followed by the body of that type.
 *
 *   type  u16 little-endian   (enum rumor_msg_type)
 *   flags u8                  bit 0 RUMOR_MSG_FLAG_OPTIONAL, bits 1..7 zero
 *   body  the rest            laid out by the schema of the type
 *
 * A receiver that does not know a type skips the message when the optional
 * flag is set, and treats it as a protocol error otherwise.  The flag may be
 * set on known types too; they are decoded as usual and the flag is kept.
 *
 * Every body is described by one schema table in message.c (fields of kind
 * u8/u16/u32/u64, fixed bytes, string, blob and list-of-struct, each with its
 * own cap); encode, size computation and decode are all driven by it.  The
 * byte-by-byte layout and the limits are in doc/protocol.md ("Transport").
 *
 * Ownership: a decoded struct rumor_msg BORROWS from the input buffer:
 * strings, blobs and lists point into it and stay valid only while it does.
 * Lists are not copied or allocated: they expose the raw entries and a
 * count, and rumor_msg_inv_entry()/rumor_msg_addr_entry() read entry i.
 * For encoding, a list may instead point at an array of entry structs
 * (.entries); when .entries is NULL the raw bytes (.raw) are used, so a
 * decoded message re-encodes to the same bytes.
 *
 * Errors:
 *   rumor_msg_decode() returns NULL on success or a constant reason string
 *   (safe to log, never freed) for bad input from a peer: truncation,
 *   trailing bytes, a length or count over its cap (checked before any
 *   loop), bad UTF-8, an out-of-range value (address family, item kind),
 *   reserved flag bits, an unknown mandatory type.
 *   rumor_msg_encoded_size()/rumor_msg_encode() return 0, -EINVAL (the
 *   message would not decode: unknown type, a value over its cap, bad UTF-8,
 *   bad entry) or -ENOBUFS (cap too small; nothing useful is written).
 */
#ifndef RUMOR_NET_MESSAGE_H
#define RUMOR_NET_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/item.h"

enum rumor_msg_type {
	RUMOR_MSG_HELLO = 1,
	RUMOR_MSG_PING = 2,
	RUMOR_MSG_PONG = 3,
	RUMOR_MSG_INV = 4,
	RUMOR_MSG_GETDATA = 5,
	RUMOR_MSG_NOTFOUND = 6,
	RUMOR_MSG_TX = 7,
	RUMOR_MSG_BLOCK = 8,
	RUMOR_MSG_GETADDR = 9,
	RUMOR_MSG_ADDR = 10,
	RUMOR_MSG_DISCONNECT = 11,
};
/* Highest type number this codec knows. */
#define RUMOR_MSG_TYPE_LAST RUMOR_MSG_DISCONNECT

#define RUMOR_MSG_FLAG_OPTIONAL 0x01u
#define RUMOR_MSG_FLAGS_KNOWN RUMOR_MSG_FLAG_OPTIONAL

#define RUMOR_MSG_ENVELOPE_SIZE 3 /* type u16 + flags u8 */

/* Caps (the decoder rejects anything larger). */
#define RUMOR_MSG_NETWORK_MAX RUMOR_NETWORK_NAME_MAX /* hello.network bytes */
#define RUMOR_MSG_USER_AGENT_MAX 256u                /* hello.user_agent bytes */
#define RUMOR_MSG_REASON_MAX 256u                    /* disconnect.reason bytes */
#define RUMOR_MSG_INV_MAX 50000u                     /* inv/getdata/notfound entries */
#define RUMOR_MSG_ADDR_MAX 1000u                     /* addr entries */
#define RUMOR_MSG_TX_MAX RUMOR_TX_SIZE_MAX           /* tx.item bytes */
#define RUMOR_MSG_BLOCK_MAX RUMOR_BLOCK_SIZE_MAX     /* block.item bytes */

/* Fixed sizes of list entries on the wire. */
#define RUMOR_MSG_INV_ENTRY_SIZE 33u  /* kind u8, id[32] */
#define RUMOR_MSG_ADDR_ENTRY_SIZE 59u /* family u8, address[16], port u16, last_seen u64, node_id[32] */

/* Largest whole message (envelope included) of any type: a block message. */
#define RUMOR_MSG_SIZE_MAX (RUMOR_MSG_ENVELOPE_SIZE + 4u + RUMOR_MSG_BLOCK_MAX)

enum rumor_addr_family {
	RUMOR_ADDR_IPV4 = 4, /* address[0..3] holds the IPv4 address, [4..15] are zero */
	RUMOR_ADDR_IPV6 = 6,
};

/* Borrowed byte ranges. */
struct rumor_msg_string {
	const uint8_t *ptr; /* UTF-8, not NUL-terminated; may be NULL when len 0 */
	uint16_t len;
};

struct rumor_msg_blob {
	const uint8_t *ptr;
	uint32_t len;
};

struct rumor_msg_list {
	const uint8_t *raw;  /* count * entry size bytes (decode, or encode when entries is NULL) */
	const void *entries; /* encode only: array of count entry structs, or NULL */
	uint32_t count;
};

struct rumor_inv_entry {
	uint8_t kind; /* enum rumor_item_kind: 1 tx, 2 block */
	uint8_t id[RUMOR_ID_SIZE];
};

struct rumor_addr_entry {
	uint8_t family; /* enum rumor_addr_family */
	uint8_t address[16];
	uint16_t port;
	uint64_t last_seen; /* seconds since the Unix epoch */
	uint8_t node_id[RUMOR_ID_SIZE];
};

struct rumor_msg_hello {
	uint32_t version;
	struct rumor_msg_string network;
	uint64_t services;
	uint64_t best_height;
	struct rumor_msg_string user_agent;
	uint16_t port; /* listening port, 0 when not listening */
	uint64_t timestamp;
	uint64_t nonce;
};

struct rumor_msg_nonce { /* ping and pong */
	uint64_t nonce;
};

struct rumor_msg_inventory { /* inv, getdata and notfound */
	struct rumor_msg_list entries; /* of struct rumor_inv_entry */
};

struct rumor_msg_item { /* tx and block */
	struct rumor_msg_blob item; /* one item encoding (crypto/item.h) */
};

struct rumor_msg_addr {
	struct rumor_msg_list entries; /* of struct rumor_addr_entry */
};

struct rumor_msg_disconnect {
	uint16_t code;
	struct rumor_msg_string reason;
};

struct rumor_msg {
	uint16_t type; /* an enum rumor_msg_type value unless skipped */
	uint8_t flags;
	int skipped; /* decode only: 1 for an unknown optional type (body not read) */
	union {
		struct rumor_msg_hello hello;
		struct rumor_msg_nonce ping, pong;
		struct rumor_msg_inventory inv, getdata, notfound;
		struct rumor_msg_item tx, block;
		struct rumor_msg_addr addr;
		struct rumor_msg_disconnect disconnect;
	} u; /* getaddr has no body */
};

/*
 * Decodes one whole message from buf[0..len).  On success (NULL) *out is
 * filled and borrows from buf; out->skipped is 1 when the type is unknown
 * and marked optional (the caller ignores it).  On failure returns a reason
 * and *out is unspecified.
 */
const char *rumor_msg_decode(struct rumor_msg *out, const uint8_t *buf, size_t len);

/* The exact encoded size of m into *size.  Returns 0 or -EINVAL. */
int rumor_msg_encoded_size(const struct rumor_msg *m, size_t *size);
/* Encodes m into out (cap bytes); *out_len gets the size.  Returns 0,
 * -EINVAL or -ENOBUFS. */
int rumor_msg_encode(const struct rumor_msg *m, uint8_t *out, size_t cap, size_t *out_len);

/* Entry i (< list->count) of a decoded (raw) or to-be-encoded list. */
void rumor_msg_inv_entry(const struct rumor_msg_list *list, uint32_t i,
			 struct rumor_inv_entry *out);
void rumor_msg_addr_entry(const struct rumor_msg_list *list, uint32_t i,
			  struct rumor_addr_entry *out);

/* "hello", "ping", ... or NULL for a type this codec does not know. */
const char *rumor_msg_type_name(uint16_t type);

#endif
