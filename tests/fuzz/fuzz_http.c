/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the /metrics endpoint's request reader (src/cli/metrics/http.c) on any
 * bytes a client may send, in any pieces. Whatever they are, it reads at most its bound, and
 * once it answers, the answer is one whole HTTP/1.1 response whose Content-Length is the body
 * it carries. Input: a byte giving the piece size (1 to 256), then the bytes sent.
 * Built by `make fuzz` with ASan and UBSan; run by tests/fuzz/run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics/http.c"

/* The scrape, stubbed: the reader is what is fuzzed. */
int mx_render(struct mx_set *s, enum mx_format fmt, char **buf, size_t *len)
{
	(void)s;
	*buf = strdup(fmt == MX_OPENMETRICS ? "a 1\n# EOF\n" : "a 1\n");
	*len = strlen(*buf);
	return 0;
}

const char *mx_content_type(enum mx_format f)
{
	return f == MX_OPENMETRICS ? "application/openmetrics-text" : "text/plain";
}

static void check_response(const struct conn *c)
{
	if (!c->outlen)
		return;
	const char *end = memmem(c->out, c->outlen, "\r\n\r\n", 4);
	if (c->outlen < 9 || memcmp(c->out, "HTTP/1.1 ", 9) || !end)
		abort();
	const char *cl = memmem(c->out, (size_t)(end - c->out), "Content-Length: ", 16);
	if (!cl)
		abort();
	size_t body = c->outlen - (size_t)(end + 4 - c->out), want = strtoul(cl + 16, NULL, 10);
	/* a HEAD answer carries the length of the body it leaves out */
	if (body != want && body != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (size < 1 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 0;
	size_t piece = (size_t)data[0] + 1, off = 1;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->fd = sv[0];
	while (off < size && !c->writing) {
		size_t k = size - off < piece ? size - off : piece;
		if (write(sv[1], data + off, k) != (ssize_t)k)
			break;
		off += k;
		if (on_read(c, NULL) < 0)
			break;
		if (c->n > MAX_REQ)
			abort();
	}
	if (c->writing)
		check_response(c);
	close(sv[0]);
	close(sv[1]);
	free(c->out);
	free(c);
	return 0;
}
