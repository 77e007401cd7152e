/*
 * test/functional/peer_tool.h: what the two halves of the crafted peer share.
 *
 * peer_tool.c holds the command line, the single-connection modes (session
 * and manual initiators) and the helpers below; peer_attack.c holds the
 * attack modes of the hostile-peer battery (floods, forged payloads, slow
 * readers, connection floods, squatters), which run on a poll loop over
 * many non-blocking connections.  Both are one program (peer_tool); the
 * usage is in the header comment of peer_tool.c.
 */
#ifndef RUMOR_TEST_PEER_TOOL_H
#define RUMOR_TEST_PEER_TOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto/item.h"
#include "crypto/noise.h"
#include "crypto/sign.h"
#include "net/frame.h"
#include "net/session.h"

enum exit_code {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,
	EXIT_STILL_OPEN = 2,
	EXIT_IO = 3,
	EXIT_NO_HANDSHAKE = 4,
	EXIT_TIMEOUT = 5,
	EXIT_USAGE = 64,
};

#define RANDOM_BYTES 4096
#define CONNS_MAX 900 /* --conns, --addrs: under the default 1024 descriptors */
#define PROLOGUE_TAG "rumor/p2p" /* sent with its NUL: 10 bytes */
#define PROLOGUE_TAG_SIZE 10
#define PROLOGUE_SIZE (PROLOGUE_TAG_SIZE + 4 + 32)
#define IDENTITY_TAG "rumor/identity/v1"
#define IDENTITY_TAG_SIZE 17
#define TOOL_USER_AGENT "rumor-peer-tool/1"

struct tool {
	/* options */
	const char *host, *port, *bind_addr, *mode;
	struct rumor_network network;
	int has_psk;
	uint8_t psk[32];
	int has_expected_id;
	uint8_t expected_id[32];
	uint64_t timeout_us;
	uint64_t hold_us;
	/* attack options (peer_attack.c) */
	uint64_t count;          /* --count */
	uint64_t per_msg;        /* --per-msg */
	uint32_t conns;          /* --conns */
	uint32_t addrs;          /* --addrs (0: one per connection) */
	uint32_t netgroups;      /* --netgroups */
	uint32_t source;         /* --source: second octet of the first netgroup */
	uint32_t txs;            /* --txs */
	int badsig, unrequested; /* --badsig, --unrequested */
	uint8_t *item;           /* --item (malloc'd) */
	size_t item_len;
	int has_getdata;
	uint8_t getdata_id[32];  /* --getdata */
	/* identity */
	uint8_t id_pub[32], id_secret[RUMOR_SECRET_SIZE];
	uint8_t noise_static[32];
	/* connection */
	int fd;
	int eof;                        /* the node closed (EOF or reset) */
	struct rumor_session *session;  /* session modes */
	int ready;
	const char *close_reason;       /* session's CLOSED reason */
	int close_remote;
};

/* The manual initiator's state (peer_tool.c). */
struct manual {
	struct rumor_noise_handshake hs;
	struct rumor_noise_cipher send;
	struct rumor_frame_decoder dec;
	int have_dec;
	uint8_t remote_id[32];
};

/* stdout (one line) and stderr ("peer_tool: ..."). */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hex_print(const char *label, const uint8_t *bytes, size_t len);
uint64_t now_us(void);

int open_socket(const struct tool *t, const char *bind_addr, int nonblock);
int session_new_with(const struct tool *t, const uint8_t *id_secret, const uint8_t noise_static[32],
		     struct rumor_session **out);
/* Blocking helpers on t->fd (peer_tool.c). */
int write_all(struct tool *t, const uint8_t *buf, size_t len);
int expect_close(struct tool *t, uint64_t deadline_us);
int manual_connect(struct tool *t, struct manual *m, int skip_hello);
int manual_send_frame(struct tool *t, struct manual *m, uint8_t marker, const uint8_t *frag,
		      size_t frag_len, uint16_t payload_len_override);
void manual_free(struct manual *m);

/* The attack modes (peer_attack.c).  Those marked "own sockets" open
 * their connections themselves (main does not dial first). */
int mode_invflood(struct tool *t);
int mode_invbig(struct tool *t);      /* manual: one inv over the entry cap */
int mode_payload(struct tool *t);
int mode_bigblock(struct tool *t);
int mode_getdataflood(struct tool *t);
int mode_slowreader(struct tool *t);
int mode_connflood(struct tool *t);   /* own sockets */
int mode_squat(struct tool *t);       /* own sockets */

#endif
