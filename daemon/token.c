#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "token.h"

#define TOKEN_MAX 1024

struct token {
	size_t len;
	char value[]; /* the rest of the page */
};

static size_t
token_pagesize(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static struct token *
token_alloc(void)
{
	struct token *t;

	t = mmap(NULL, token_pagesize(), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED)
		return NULL;
	/* Best effort: neither in a core dump nor in swap. */
	madvise(t, token_pagesize(), MADV_DONTDUMP);
	mlock(t, token_pagesize());
	return t;
}

void
token_free(struct token *t)
{
	if (t == NULL)
		return;
	explicit_bzero(t, token_pagesize());
	munlock(t, token_pagesize());
	munmap(t, token_pagesize());
}

/* It goes into an HTTP header: no spaces, no control characters. */
static int
token_printable(const char *s, ssize_t n)
{
	ssize_t i;

	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f)
			return 0;
	return 1;
}

struct token *
token_load(const char *file)
{
	char path[PATH_MAX];
	const char *creds;
	struct token *t;
	struct stat st;
	ssize_t n;
	int fd, credential = file == NULL;

	if (credential) {
		if ((creds = getenv("CREDENTIALS_DIRECTORY")) == NULL) {
			log_warnx(
			    "platform token: no platform.token_file in the configuration and no systemd credential \"token\" ($CREDENTIALS_DIRECTORY is not set)");
			return NULL;
		}
		snprintf(path, sizeof(path), "%s/token", creds);
		file = path;
	}
	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		log_warn("platform token: %s", file);
		return NULL;
	}
	/* systemd makes credentials private itself; a file must be too. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (!credential && (st.st_mode & 077) != 0)) {
		log_warnx(
		    "platform token: %s: refused: must be a regular file that only its owner can read (chmod 600); mode is %04o",
		    file, (unsigned)(st.st_mode & 07777));
		close(fd);
		return NULL;
	}
	if ((t = token_alloc()) == NULL) {
		log_warn("platform token: mmap");
		close(fd);
		return NULL;
	}
	n = read(fd, t->value, TOKEN_MAX + 1);
	close(fd);
	while (n > 0 &&
	    (t->value[n - 1] == '\n' || t->value[n - 1] == '\r' ||
	        t->value[n - 1] == ' '))
		n--;
	if (n <= 0 || n > TOKEN_MAX || !token_printable(t->value, n)) {
		log_warnx(
		    "platform token: %s: refused: must be one line of 1 to %d printable ASCII characters",
		    file, TOKEN_MAX);
		token_free(t);
		return NULL;
	}
	t->len = (size_t)n;
	t->value[n] = '\0';
	return t;
}

const char *
token_value(const struct token *t, size_t *len)
{
	*len = t->len;
	return t->value;
}

int
token_equal(const struct token *a, const struct token *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return a->len == b->len && memcmp(a->value, b->value, a->len) == 0;
}
