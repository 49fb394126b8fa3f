/* SPDX-License-Identifier: MIT */
/*
 * The /metrics endpoint: a single-threaded poll loop in the style of node_exporter's, without
 * its dependencies. It reads nothing but its own fixed requests: a request line and headers of
 * at most MAX_REQ bytes, within READ_MS of the connection; its answer must be taken within
 * WRITE_MS; every socket is non-blocking, so a slow or silent client holds a slot (of
 * MAX_CONNS) for that long at most and never holds up the others. One request per
 * connection, then it is closed.
 */
#include "metrics/metrics.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS (MX_HTTP_MAX_FDS - 1)
#define MAX_REQ 8192
#define READ_MS 5000
#define WRITE_MS 10000

struct conn {
	int fd;
	int writing;
	uint64_t deadline;     /* CLOCK_MONOTONIC ns */
	size_t n;              /* request bytes read */
	char *out;             /* the whole response */
	size_t outlen, sent;
	char req[MAX_REQ + 1];
};

struct mx_http {
	int lfd;
	char where[96];
	struct conn *c[MAX_CONNS];
	size_t nc;
};

static int parse_addr(const char *addr, char *host, size_t hn, char *port, size_t pn)
{
	const char *colon = strrchr(addr, ':');
	const char *h = "127.0.0.1";
	size_t hl = strlen(h);
	if (colon) {
		if (colon > addr) {
			h = addr;
			hl = (size_t)(colon - addr);
		}
		addr = colon + 1;
	}
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']')
		h++, hl -= 2;
	if (!hl || hl >= hn || !*addr || strlen(addr) >= pn ||
	    strspn(addr, "0123456789") != strlen(addr))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	snprintf(port, pn, "%s", addr);
	return 0;
}

int mx_http_listen(const char *addr, struct mx_http **out, char *err, size_t n)
{
	char host[256], port[16], hbuf[INET6_ADDRSTRLEN];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1, rc, e;
	struct mx_http *h;

	*out = NULL;
	if (parse_addr(addr, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, n, "'%s' is not ADDR:PORT", addr);
		return -EINVAL;
	}
	if ((rc = getaddrinfo(host, port, &hints, &ai))) {
		snprintf(err, n, "%s: %s", host, gai_strerror(rc));
		return -EINVAL;
	}
	if (!(h = calloc(1, sizeof(*h)))) {
		freeaddrinfo(ai);
		return -ENOMEM;
	}
	h->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->lfd < 0 || setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(h->lfd, ai->ai_addr, ai->ai_addrlen) || listen(h->lfd, 64) ||
	    getsockname(h->lfd, (struct sockaddr *)&ss, &sl)) {
		e = -errno;
		snprintf(err, n, "cannot listen on %s: %s", addr, strerror(-e));
		freeaddrinfo(ai);
		if (h->lfd >= 0)
			close(h->lfd);
		free(h);
		return e;
	}
	freeaddrinfo(ai);
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, hbuf, sizeof(hbuf));
		snprintf(h->where, sizeof(h->where), "[%s]:%u", hbuf, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const void *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, hbuf, sizeof(hbuf));
		snprintf(h->where, sizeof(h->where), "%s:%u", hbuf, ntohs(a->sin_port));
	}
	*out = h;
	return 0;
}

const char *mx_http_where(const struct mx_http *h)
{
	return h->where;
}

static void drop(struct mx_http *h, size_t i)
{
	struct conn *c = h->c[i];
	close(c->fd);
	free(c->out);
	free(c);
	h->c[i] = h->c[--h->nc];
}

void mx_http_free(struct mx_http *h)
{
	if (!h)
		return;
	while (h->nc)
		drop(h, 0);
	close(h->lfd);
	free(h);
}

size_t mx_http_pollfds(struct mx_http *h, struct pollfd *p)
{
	/* when every slot is taken, new connections wait in the backlog */
	p[0] = (struct pollfd){ .fd = h->lfd, .events = h->nc < MAX_CONNS ? POLLIN : 0 };
	for (size_t i = 0; i < h->nc; i++)
		p[1 + i] = (struct pollfd){ .fd = h->c[i]->fd,
					    .events = h->c[i]->writing ? POLLOUT : POLLIN };
	return 1 + h->nc;
}

int mx_http_timeout_ms(const struct mx_http *h)
{
	uint64_t now = tsc_now_ns(), next = UINT64_MAX;
	for (size_t i = 0; i < h->nc; i++)
		if (h->c[i]->deadline < next)
			next = h->c[i]->deadline;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)((next - now) / 1000000 + 1);
}

/* The response, headers and body, into c->out. */
static void respond(struct conn *c, int code, const char *status, const char *type,
		    const char *extra, const char *body, size_t len, int head)
{
	char hdr[512];
	int hl = snprintf(hdr, sizeof(hdr),
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			  "Connection: close\r\n\r\n", code, status, type, len, extra);
	size_t total = (size_t)hl + (head ? 0 : len);
	c->out = malloc(total);
	c->writing = 1;
	c->deadline = tsc_now_ns() + WRITE_MS * 1000000ull;
	if (!c->out) {
		c->outlen = 0; /* nothing to say: closed at once */
		return;
	}
	memcpy(c->out, hdr, (size_t)hl);
	if (!head)
		memcpy(c->out + hl, body, len);
	c->outlen = total;
	c->sent = 0;
}

/* The value of header name (lower case, with its colon) in the request, or NULL. */
static const char *header(const char *req, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = strchr(req, '\n'); p; p = strchr(p + 1, '\n'))
		if (!strncasecmp(p + 1, name, n))
			return p + 1 + n;
	return NULL;
}

static void handle(struct conn *c, struct mx_set *s)
{
	static const char page[] =
		"<html><head><title>taskscope</title></head><body><h1>taskscope metrics</h1>"
		"<p><a href=\"/metrics\">/metrics</a></p></body></html>\n";
	char method[8], path[256];
	int head;
	if (sscanf(c->req, "%7s %255s HTTP/1.%*c", method, path) != 2) {
		respond(c, 400, "Bad Request", "text/plain", "", "bad request\n", 12, 0);
		return;
	}
	head = !strcmp(method, "HEAD");
	if (strcmp(method, "GET") && !head) {
		respond(c, 405, "Method Not Allowed", "text/plain", "Allow: GET, HEAD\r\n",
			"only GET and HEAD\n", 18, 0);
		return;
	}
	path[strcspn(path, "?")] = 0;
	if (!strcmp(path, "/")) {
		respond(c, 200, "OK", "text/html", "", page, sizeof(page) - 1, head);
		return;
	}
	if (strcmp(path, "/metrics")) {
		respond(c, 404, "Not Found", "text/plain", "", "not found: try /metrics\n", 24, head);
		return;
	}
	/* what Prometheus asks for first; anyone else gets the text format */
	const char *accept = header(c->req, "accept:");
	size_t alen = accept ? strcspn(accept, "\r\n") : 0;
	enum mx_format fmt = accept && memmem(accept, alen, "application/openmetrics-text", 28) ?
				     MX_OPENMETRICS : MX_TEXT;
	char *body;
	size_t len;
	if (mx_render(s, fmt, &body, &len)) {
		respond(c, 500, "Internal Server Error", "text/plain", "", "scrape failed\n", 14,
			head);
		return;
	}
	respond(c, 200, "OK", mx_content_type(fmt), "", body, len, head);
	free(body);
}

/* Read what came; a whole request is answered. 0 to keep the connection, -1 to drop it. */
static int on_read(struct conn *c, struct mx_set *s)
{
	ssize_t k = recv(c->fd, c->req + c->n, MAX_REQ - c->n, MSG_DONTWAIT);
	if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (k < 0)
		return 0;
	c->n += (size_t)k;
	c->req[c->n] = 0;
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
		handle(c, s);
	else if (c->n == MAX_REQ)
		respond(c, 431, "Request Header Fields Too Large", "text/plain", "",
			"request too large\n", 18, 0);
	return 0;
}

/* Send what the socket takes; -1 once all was sent or the client is gone. */
static int on_write(struct conn *c)
{
	while (c->sent < c->outlen) {
		ssize_t k = send(c->fd, c->out + c->sent, c->outlen - c->sent,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->sent += (size_t)k;
	}
	shutdown(c->fd, SHUT_WR);
	return -1;
}

void mx_http_serve(struct mx_http *h, const struct pollfd *p, size_t n, struct mx_set *s)
{
	/* connections, from the last: drop() moves the last one into the slot it frees, and
	 * the poll entries follow the slots as they were when the set was made */
	for (size_t i = n > 1 ? n - 1 : 0; i >= 1; i--) {
		struct conn *c = h->c[i - 1];
		int r = 0;
		if (p[i].revents & (POLLERR | POLLNVAL))
			r = -1;
		else if (p[i].revents & (POLLIN | POLLHUP) && !c->writing)
			r = on_read(c, s);
		if (!r && c->writing && (p[i].revents & POLLOUT || !c->sent))
			r = on_write(c);
		if (r || tsc_now_ns() >= c->deadline)
			drop(h, i - 1);
	}
	if (!(p[0].revents & POLLIN))
		return;
	while (h->nc < MAX_CONNS) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->deadline = tsc_now_ns() + READ_MS * 1000000ull;
		h->c[h->nc++] = c;
	}
}
