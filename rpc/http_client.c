/*
 * rpc/http_client.c: the blocking HTTP/1.1 client of rumor-cli (see
 * rpc/http_client.h).
 *
 * Sockets are non-blocking and every wait goes through poll() against one
 * deadline (CLOCK_MONOTONIC), so no step can hang past the timeout.  The
 * request says "Connection: close"; the response is complete at http-parser's
 * on_message_complete or, for a response without a length, at EOF.
 * The server is trusted no more than any peer: the body is capped.
 */
#include "rpc/http_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <sodium.h>

static void set_err(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t cap, const char *fmt, ...)
{
	if (!err || cap == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

int rumor_http_split_hostport(const char *text, char *host, size_t host_cap, int *port,
			      int default_port)
{
	if (!text || !host || host_cap == 0)
		return -EINVAL;
	const char *h = text, *h_end, *p = NULL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close)
			return -EINVAL;
		h = text + 1;
		h_end = close;
		if (close[1] == ':')
			p = close + 2;
		else if (close[1] != '\0')
			return -EINVAL;
	} else {
		const char *colon = strrchr(text, ':');
		if (colon && strchr(text, ':') != colon)
			return -EINVAL; /* bare IPv6 needs brackets when a port follows */
		h_end = colon ? colon : text + strlen(text);
		if (colon)
			p = colon + 1;
	}
	size_t n = (size_t)(h_end - h);
	if (n == 0 || n >= host_cap)
		return -EINVAL;
	int value = default_port;
	if (p) {
		if (*p == '\0' || strlen(p) > 5)
			return -EINVAL;
		value = 0;
		for (const char *c = p; *c; c++) {
			if (*c < '0' || *c > '9')
				return -EINVAL;
			value = value * 10 + (*c - '0');
		}
	}
	if (value < 1 || value > 65535)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = value;
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline: 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pfd = {.fd = fd, .events = events};
		int n = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n > 0)
			return 0;
	}
}

static int connect_one(const struct addrinfo *ai, int64_t deadline, int *out)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			int e = -errno;
			close(fd);
			return e;
		}
		int e = wait_fd(fd, POLLOUT, deadline);
		if (e == 0) {
			int so = 0;
			socklen_t sl = sizeof(so);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) < 0)
				e = -errno;
			else if (so)
				e = -so;
		}
		if (e) {
			close(fd);
			return e;
		}
	}
	*out = fd;
	return 0;
}

struct response_state {
	struct rumor_http_response *resp;
	size_t cap;
	int too_big;
	int complete;
};

static int on_body(http_parser *hp, const char *at, size_t len)
{
	struct response_state *st = hp->data;
	struct rumor_http_response *r = st->resp;
	if (len > RUMOR_HTTP_CLIENT_MAX_RESPONSE - r->len) {
		st->too_big = 1;
		return -1;
	}
	if (r->len + len + 1 > st->cap) {
		size_t cap = st->cap ? st->cap : 4096;
		while (cap < r->len + len + 1)
			cap *= 2;
		char *body = realloc(r->body, cap);
		if (!body)
			return -1;
		r->body = body;
		st->cap = cap;
	}
	memcpy(r->body + r->len, at, len);
	r->len += len;
	return 0;
}

static int on_message_complete(http_parser *hp)
{
	struct response_state *st = hp->data;
	if (hp->status_code >= 100 && hp->status_code < 200)
		return 0; /* an interim answer: the real one follows */
	st->complete = 1;
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings response_settings = {
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

static int send_all(int fd, const char *data, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			int e = wait_fd(fd, POLLOUT, deadline);
			if (e)
				return e;
			continue;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static char *build_request(const char *host, int port, const char *userpass, const char *body,
			   size_t len, size_t *out_len)
{
	char auth[1200] = "";
	if (userpass) {
		size_t up = strlen(userpass);
		if (sodium_base64_ENCODED_LEN(up, sodium_base64_VARIANT_ORIGINAL) + 40 >
		    sizeof(auth))
			return NULL;
		char b64[1100];
		sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)userpass, up,
				  sodium_base64_VARIANT_ORIGINAL);
		snprintf(auth, sizeof(auth), "Authorization: Basic %s\r\n", b64);
	}
	int v6 = strchr(host, ':') != NULL;
	int head_len = snprintf(NULL, 0,
				"POST / HTTP/1.1\r\nHost: %s%s%s:%d\r\n%sContent-Type: "
				"application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
				v6 ? "[" : "", host, v6 ? "]" : "", port, auth, len);
	char *out = malloc((size_t)head_len + 1 + len);
	if (!out)
		return NULL;
	snprintf(out, (size_t)head_len + 1,
		 "POST / HTTP/1.1\r\nHost: %s%s%s:%d\r\n%sContent-Type: "
		 "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		 v6 ? "[" : "", host, v6 ? "]" : "", port, auth, len);
	memcpy(out + head_len, body, len);
	*out_len = (size_t)head_len + len;
	sodium_memzero(auth, sizeof(auth));
	return out;
}

static int exchange(int fd, const char *request, size_t request_len, int64_t deadline,
		    struct rumor_http_response *resp, char *err, size_t err_cap)
{
	int e = send_all(fd, request, request_len, deadline);
	if (e) {
		set_err(err, err_cap, "cannot send the request: %s", strerror(-e));
		return e;
	}
	http_parser parser;
	http_parser_init(&parser, HTTP_RESPONSE);
	struct response_state st = {.resp = resp};
	parser.data = &st;
	char buf[65536];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				e = -errno;
				set_err(err, err_cap, "cannot read the response: %s", strerror(-e));
				return e;
			}
			e = wait_fd(fd, POLLIN, deadline);
			if (e) {
				set_err(err, err_cap, "no complete response in time: %s",
					strerror(-e));
				return e;
			}
			continue;
		}
		/* n == 0 is EOF: http-parser takes a 0-length execute as such */
		http_parser_execute(&parser, &response_settings, buf, (size_t)n);
		if (st.complete)
			break;
		if (st.too_big) {
			set_err(err, err_cap, "the response is larger than %zu bytes",
				RUMOR_HTTP_CLIENT_MAX_RESPONSE);
			return -EFBIG;
		}
		if (HTTP_PARSER_ERRNO(&parser) != HPE_OK) {
			set_err(err, err_cap, "bad HTTP response: %s",
				http_errno_description(HTTP_PARSER_ERRNO(&parser)));
			return -EPROTO;
		}
		if (n == 0) {
			set_err(err, err_cap, "the server closed the connection before the "
					      "full response");
			return -EPROTO;
		}
	}
	resp->status = (int)parser.status_code;
	return 0;
}

int rumor_http_post(const char *host, int port, const char *userpass, const char *body,
		    size_t len, int timeout_ms, struct rumor_http_response *resp, char *err,
		    size_t err_cap)
{
	if (err && err_cap)
		err[0] = '\0';
	if (!host || !*host || port < 1 || port > 65535 || (!body && len) || !resp ||
	    timeout_ms <= 0) {
		set_err(err, err_cap, "invalid arguments");
		return -EINVAL;
	}
	memset(resp, 0, sizeof(*resp));
	int64_t deadline = now_ms() + timeout_ms;

	char port_text[8];
	snprintf(port_text, sizeof(port_text), "%d", port);
	struct addrinfo hints, *list = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int gai = getaddrinfo(host, port_text, &hints, &list);
	if (gai != 0) {
		set_err(err, err_cap, "cannot resolve %s: %s", host, gai_strerror(gai));
		return -EHOSTUNREACH;
	}
	int fd = -1, e = -EHOSTUNREACH;
	for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
		e = connect_one(ai, deadline, &fd);
		if (e == 0 || e == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(list);
	if (e) {
		set_err(err, err_cap, "%s", strerror(-e));
		return e;
	}

	size_t request_len = 0;
	char *request = build_request(host, port, userpass, body ? body : "", len, &request_len);
	if (!request) {
		close(fd);
		set_err(err, err_cap, "out of memory or credentials too long");
		return -ENOMEM;
	}
	e = exchange(fd, request, request_len, deadline, resp, err, err_cap);
	free(request);
	close(fd);
	if (e) {
		rumor_http_response_free(resp);
		return e;
	}
	if (!resp->body) {
		resp->body = malloc(1);
		if (!resp->body) {
			set_err(err, err_cap, "out of memory");
			return -ENOMEM;
		}
	}
	resp->body[resp->len] = '\0';
	return 0;
}

void rumor_http_response_free(struct rumor_http_response *resp)
{
	if (!resp)
		return;
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
	resp->status = 0;
}
