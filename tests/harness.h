/*
 * Helpers shared by the Criterion tests: scratch directories, captured log
 * lines, and real kefud processes whose stderr goes to a file.
 *
 * Timeouts here are a safety net for a loaded machine, never a speed
 * assertion: a healthy run finishes in a fraction of them.
 */
#ifndef KEFU_TEST_HARNESS_H
#define KEFU_TEST_HARNESS_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define H_TIMEOUT_S 60

static inline char *
h_tmpdir(void)
{
	char *d = strdup("/tmp/kefu-test-XXXXXX");

	cr_assert_not_null(mkdtemp(d), "mkdtemp: %s", strerror(errno));
	return d;
}

static inline int
h_rm1(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void
h_rmrf(const char *dir)
{
	nftw(dir, h_rm1, 16, FTW_DEPTH | FTW_PHYS);
}

static inline char *
h_path(const char *dir, const char *name)
{
	char *p;

	cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

/* Writes a file; fmt may hold a whole configuration. */
static inline char *
h_write(const char *dir, const char *name, const char *fmt, ...)
{
	char *path = h_path(dir, name);
	va_list ap;
	FILE *fp = fopen(path, "w");

	cr_assert_not_null(fp, "%s: %s", path, strerror(errno));
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	fclose(fp);
	return path;
}

/* Copies in place: the destination keeps its inode, as `cp` does. */
static inline void
h_copy(const char *src, const char *dst)
{
	char buf[65536];
	ssize_t n;
	int in = open(src, O_RDONLY), out;

	cr_assert(in >= 0, "%s: %s", src, strerror(errno));
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(out >= 0, "%s: %s", dst, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		cr_assert(write(out, buf, n) == n);
	close(in);
	close(out);
}

static inline char *
h_build(const char *rel)
{
	char *p;

	cr_assert(asprintf(&p, "%s/%s", KEFU_BUILD, rel) > 0);
	return p;
}

/* A plugin directory holding copies of test plugins, under new names. */
static inline void
h_plugin(const char *dir, const char *built, const char *as)
{
	char *src, *dst, *name;

	cr_assert(
	    asprintf(&src, "%s/tests/plugins/%s.so", KEFU_BUILD, built) > 0);
	cr_assert(asprintf(&name, "%s.so", as) > 0);
	dst = h_path(dir, name);
	h_copy(src, dst);
	free(src);
	free(dst);
	free(name);
}

/* A loopback TCP port nothing listens on (now). */
static inline int
h_free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Captured log lines of the code under test (in-process tests). */
static char h_logbuf[1 << 16];
static size_t h_loglen;

static inline void
h_log_line(int pri, const char *line)
{
	int n;

	(void)pri;
	n = snprintf(h_logbuf + h_loglen, sizeof(h_logbuf) - h_loglen, "%s\n",
	    line);
	if (n > 0 && h_loglen + n < sizeof(h_logbuf))
		h_loglen += n;
}

static inline void
h_log_capture(void)
{
	h_loglen = 0;
	h_logbuf[0] = '\0';
	log_init(LOG_PRI_DEBUG, 0);
	log_set_hook(h_log_line);
}

static inline const char *
h_log(void)
{
	return h_logbuf;
}

static inline char *
h_read(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (fp == NULL)
		return strdup("");
	if (getdelim(&buf, &len, '\0', fp) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(fp);
	return buf;
}

/* Starts argv[0] with stderr (and stdout) appended to logpath. */
static inline pid_t
h_spawn(char *const argv[], const char *logpath)
{
	posix_spawn_file_actions_t fa;
	extern char **environ;
	pid_t pid;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, logpath,
	    O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	cr_assert(r == 0, "spawn %s: %s", argv[0], strerror(r));
	return pid;
}

static inline double
h_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void
h_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/*
 * Waits until needle appears in the file after offset from; returns the
 * offset just past it.  Fails the test after H_TIMEOUT_S.
 */
static inline size_t
h_wait_log(const char *path, const char *needle, size_t from)
{
	double end = h_now() + H_TIMEOUT_S;
	char *buf, *hit;
	size_t at;

	for (;;) {
		buf = h_read(path);
		if (strlen(buf) > from &&
		    (hit = strstr(buf + from, needle)) != NULL) {
			at = hit - buf + strlen(needle);
			free(buf);
			return at;
		}
		if (h_now() > end) {
			cr_log_error("log so far:\n%s", buf);
			free(buf);
			cr_assert_fail("\"%s\" not logged within %d s", needle,
			    H_TIMEOUT_S);
		}
		free(buf);
		h_sleep_ms(20);
	}
}

/* A kefud built with sanitizers reports into its log: none is allowed. */
static inline void
h_expect_clean_log(const char *path)
{
	char *log = h_read(path);

	cr_expect_null(strstr(log, "Sanitizer"), "sanitizer report in %s:\n%s",
	    path, log);
	cr_expect_null(strstr(log, "runtime error:"), "UBSan report in %s:\n%s",
	    path, log);
	free(log);
}

/* Waits for the process to exit; returns its exit status or -signal. */
static inline int
h_wait_exit(pid_t pid)
{
	double end = h_now() + H_TIMEOUT_S;
	int st;

	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (h_now() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			cr_assert_fail("pid %d did not exit within %d s",
			    (int)pid, H_TIMEOUT_S);
		}
		h_sleep_ms(20);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

#endif
