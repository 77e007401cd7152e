/*
 * rpc/http_client.h: a small blocking HTTP/1.1 client, enough for rumor-cli
 * to POST one JSON-RPC request and read the answer.
 *
 * One call = one connection (Connection: close).  The whole exchange
 * (resolve, connect, send, receive) is bounded by one timeout, and the
 * response by RUMOR_HTTP_CLIENT_MAX_RESPONSE bytes of body.  The response
 * is parsed with http-parser.  No global state; safe from any thread.
 */
#ifndef RUMOR_RPC_HTTP_CLIENT_H
#define RUMOR_RPC_HTTP_CLIENT_H

#include <stddef.h>

#define RUMOR_HTTP_CLIENT_MAX_RESPONSE ((size_t)256 << 20)

/* Splits "HOST:PORT", "[IPV6]:PORT", "HOST" or "[IPV6]" (then *port =
 * default_port) into host (NUL-terminated, brackets removed) and port.
 * Returns 0, or -EINVAL for an empty host, a bad port (not 1..65535) or a
 * host that does not fit in host_cap. */
int rumor_http_split_hostport(const char *text, char *host, size_t host_cap, int *port,
			      int default_port);

struct rumor_http_response {
	int status;  /* e.g. 200 */
	char *body;  /* malloc'd and NUL-terminated (the body may hold NULs) */
	size_t len;
};

/* POSTs body to http://host:port/ with Content-Type: application/json and,
 * when userpass ("USER:PASSWORD") is not NULL, HTTP Basic auth.  Waits at
 * most timeout_ms in total.  Returns 0 with *resp filled (any HTTP status),
 * or a negative errno with a message for people in err (if not NULL):
 *   -EINVAL       bad arguments
 *   -EHOSTUNREACH the host name did not resolve
 *   -ECONNREFUSED (or another connect errno) no connection
 *   -ETIMEDOUT    the timeout passed
 *   -EPROTO       the answer is not valid HTTP or was cut short
 *   -EFBIG        the answer is over RUMOR_HTTP_CLIENT_MAX_RESPONSE
 *   -ENOMEM       out of memory */
int rumor_http_post(const char *host, int port, const char *userpass, const char *body,
		    size_t len, int timeout_ms, struct rumor_http_response *resp, char *err,
		    size_t err_cap);
void rumor_http_response_free(struct rumor_http_response *resp);

#endif
