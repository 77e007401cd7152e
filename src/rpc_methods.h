/*
 * src/rpc_methods.h: the node's JSON-RPC methods (documented in doc/rpc.md).
 *
 * Application error codes (besides the JSON-RPC 2.0 ones in rpc/jsonrpc.h):
 */
#ifndef RUMOR_SRC_RPC_METHODS_H
#define RUMOR_SRC_RPC_METHODS_H

#include "rpc/jsonrpc.h"

#define RUMOR_RPC_MISC_ERROR (-1)     /* busy, shutting down, out of memory */
#define RUMOR_RPC_NOT_FOUND (-5)      /* no such item (or not of that kind) */
#define RUMOR_RPC_DATABASE_ERROR (-20)
#define RUMOR_RPC_DECODE_ERROR (-22)  /* not hex, malformed encoding, wrong kind */
#define RUMOR_RPC_REJECTED (-26)      /* a validation rule failed */

struct rumor_node;

struct rumor_http_request;

/* The HTTP request being dispatched (NULL after it), so that log lines
 * (stop, refused submissions) name the caller's address. */
void rumor_rpc_methods_set_caller(struct rumor_http_request *req);

/* Fills server with the method table; ctx is the node. */
void rumor_rpc_methods_setup(struct rumor_jsonrpc_server *server, struct rumor_node *node);

#endif
