/*
 * kefuctl: asks a running kefud over its control socket, and prints the
 * answer for people ("key: value" lines, or a table for lists, times in
 * the shop's time zone) or, with --json, as JSON (for jq).
 *
 * Exit status: 0 done; 1 kefud said no (a failed reload, no such
 * conversation, an action asked on the read-only socket); 2 usage;
 * 3 kefud cannot be reached.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libconfig.h>

#include "paths.h"
#include "version.h"

static void
usage(int code)
{
	fprintf(code == 0 ? stdout : stderr,
	    "usage: kefuctl [-s socket | -i instance | -c file] [--json] command\n"
	    "  status                     link, uptime, versions, last reload, conversations\n"
	    "  reload                     reload configuration and plugins; fails if kefud refused it\n"
	    "  stats                      counters and first-response times\n"
	    "  conversations [--owner bot|waiting|agent|closed]\n"
	    "  show CONVERSATION          state and transcript\n"
	    "  handback CONVERSATION      give a conversation stuck with an agent back to the bot\n"
	    "  unanswered [--days N]      what the bot could not answer, grouped, most asked first\n"
	    "  purge --older-than DAYS    delete conversations idle over DAYS, with their transcripts\n"
	    "  log-level [LEVEL]          the log level, or a new one until the next reload\n"
	    "socket: -s; -i NAME for kefud@NAME (%s/kefu@NAME/kefud.sock);\n"
	    "  -c the control_socket a configuration names;\n"
	    "  or $KEFU_CONTROL_SOCKET, or $RUNTIME_DIRECTORY/kefud.sock, or %s\n"
	    "  (then, if that one is out of reach, the read-only %s)\n",
	    KEFU_RUN_DIR, KEFU_CONTROL_SOCKET, KEFU_VIEW_SOCKET);
	exit(code);
}

/* A whole number, or -1. */
static int
whole(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s != '\0' && *end == '\0' && v >= 0 && v <= 1000000 ? (int)v
	                                                            : -1;
}

/*
 * The control socket a configuration file names (kefuctl -c, as the
 * unit's ExecReload runs it), relative to the file's directory; NULL
 * when it names none.
 */
static char *
socket_of(const char *file)
{
	static char path[PATH_MAX];
	char copy[PATH_MAX];
	const char *v, *dir;
	config_t cfg;
	int found;

	snprintf(copy, sizeof(copy), "%s", file);
	dir = dirname(copy);
	config_init(&cfg);
	config_set_include_dir(&cfg, dir);
	if (!config_read_file(&cfg, file)) {
		fprintf(stderr, "kefuctl: %s:%d: %s\n",
		    config_error_file(&cfg) != NULL ? config_error_file(&cfg)
		                                    : file,
		    config_error_line(&cfg), config_error_text(&cfg));
		exit(3);
	}
	if ((found = config_lookup_string(&cfg, "control_socket", &v))) {
		if (v[0] == '/')
			snprintf(path, sizeof(path), "%s", v);
		else
			snprintf(path, sizeof(path), "%s/%s", dir, v);
	}
	config_destroy(&cfg);
	return found ? path : NULL;
}

/* The answer to one request line, parsed; exits 3 when unreachable,
 * unless a fallback is given, which is asked instead. */
static cJSON *
ask(const char *path, const char *fallback, const char *request)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char *buf = NULL;
	size_t n = 0, cap = 0;
	ssize_t r;
	cJSON *o;
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		/* Not in the service's group: perhaps in the viewers'. */
		if (fallback != NULL && (errno == EACCES || errno == ENOENT) &&
		    access(fallback, F_OK) == 0)
			return ask(fallback, NULL, request);
		fprintf(stderr, "kefuctl: cannot reach kefud at %s: %s\n", path,
		    strerror(errno));
		exit(3);
	}
	if (write(fd, request, strlen(request)) != (ssize_t)strlen(request) ||
	    write(fd, "\n", 1) != 1) {
		fprintf(stderr, "kefuctl: %s: %s\n", path, strerror(errno));
		exit(3);
	}
	for (;;) {
		if (n + 4096 > cap &&
		    (buf = realloc(buf, cap = cap * 2 + 8192)) == NULL) {
			perror("kefuctl");
			exit(3);
		}
		if ((r = read(fd, buf + n, cap - n - 1)) <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf = buf != NULL ? buf : calloc(1, 1);
	buf[n] = '\0';
	if ((o = cJSON_Parse(buf)) == NULL) {
		fprintf(stderr, "kefuctl: kefud's answer is not JSON: %.200s\n",
		    buf);
		exit(3);
	}
	free(buf);
	return o;
}

static const char *
s_of(const cJSON *o, const char *name)
{
	const cJSON *m = cJSON_GetObjectItem(o, name);

	return cJSON_IsString(m) ? m->valuestring : "";
}

static double
n_of(const cJSON *o, const char *name)
{
	const cJSON *m = cJSON_GetObjectItem(o, name);

	return cJSON_IsNumber(m) ? m->valuedouble : 0;
}

static void
when(double ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0) {
		snprintf(buf, len, "-");
		return;
	}
	localtime_r(&t, &tm); /* in the shop's zone: see main() */
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static void
print_plugins(const cJSON *o)
{
	const cJSON *p;
	int first = 1;

	printf("plugins: ");
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(o, "plugins"))
	{
		printf("%s%s %s", first ? "" : ", ", s_of(p, "name"),
		    s_of(p, "version"));
		first = 0;
	}
	printf("\n");
}

static void
print_status(const cJSON *o)
{
	const cJSON *r = cJSON_GetObjectItem(o, "last_reload"),
	            *c = cJSON_GetObjectItem(o, "conversations");
	char at[64];

	printf("version: %s\npid: %.0f\nuptime: %.0f s\nlink: %s\nshop: %s\n",
	    s_of(o, "version"), n_of(o, "pid"), n_of(o, "uptime_s"),
	    s_of(o, "link"), s_of(o, "shop"));
	printf("configuration: %s (generation %.0f)\n",
	    s_of(o, "configuration"), n_of(o, "generation"));
	print_plugins(o);
	if (cJSON_GetObjectItem(r, "at_ms") == NULL)
		printf("last reload: none\n");
	else {
		when(n_of(r, "at_ms"), at, sizeof(at));
		if (cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")))
			printf("last reload: %s ok\n", at);
		else
			printf("last reload: %s failed: %s\n", at,
			    s_of(r, "error"));
	}
	printf(
	    "conversations: bot %.0f, waiting %.0f, agent %.0f, closed %.0f\n",
	    n_of(c, "bot"), n_of(c, "waiting"), n_of(c, "agent"),
	    n_of(c, "closed"));
	printf("store: %s\n",
	    cJSON_IsTrue(cJSON_GetObjectItem(o, "store_ok")) ? "ok"
	                                                     : "failing");
}

/* name value, one per line, nested names joined with dots. */
static void
print_flat(const char *prefix, const cJSON *o)
{
	const cJSON *m;
	char name[256];
	int i = 0;

	cJSON_ArrayForEach(m, o)
	{
		if (m->string != NULL)
			snprintf(name, sizeof(name), "%s%s%s", prefix,
			    *prefix ? "." : "", m->string);
		else
			snprintf(name, sizeof(name), "%s.%d", prefix, i);
		i++;
		if (cJSON_IsObject(m) || cJSON_IsArray(m))
			print_flat(name, m);
		else if (cJSON_IsNumber(m))
			printf("%s: %.10g\n", name, m->valuedouble);
		else if (cJSON_IsString(m))
			printf("%s: %s\n", name, m->valuestring);
	}
}

static void
print_stats(cJSON *o)
{
	cJSON_DeleteItemFromObject(o, "ok");
	cJSON_DeleteItemFromObject(o, "timezone");
	print_flat("", o);
}

static void
print_conversations(const cJSON *o)
{
	const cJSON *c;
	char at[64];

	printf("ID\tOWNER\tCUSTOMER\tLAST ACTIVE\tLINES\n");
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(o, "conversations"))
	{
		when(n_of(c, "last_ms"), at, sizeof(at));
		printf("%s\t%s\t%s\t%s\t%.0f\n", s_of(c, "id"),
		    s_of(c, "owner"), s_of(c, "customer"), at,
		    n_of(c, "lines"));
	}
}

static void
print_show(const cJSON *o)
{
	const cJSON *m;
	char at[64];

	printf("conversation: %s\nowner: %s\ncustomer: %s %s%s\n",
	    s_of(o, "id"), s_of(o, "owner"), s_of(o, "customer"),
	    s_of(o, "customer_name"),
	    cJSON_IsTrue(cJSON_GetObjectItem(o, "vip")) ? " (VIP)" : "");
	if (*s_of(o, "product"))
		printf("product: %s\n", s_of(o, "product"));
	when(n_of(o, "waiting_since"), at, sizeof(at));
	printf("waiting since: %s\nbot turns: %.0f\nintents:", at,
	    n_of(o, "bot_turns"));
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(o, "intents"))
	    printf(" %s", m->valuestring);
	printf("\n");
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(o, "entities"))
	    printf("entity %s: %s\n", m->string, m->valuestring);
	printf("transcript:\n");
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(o, "transcript"))
	{
		when(n_of(m, "ts"), at, sizeof(at));
		printf("  %s %-8s %s\n", at, s_of(m, "from"), s_of(m, "text"));
	}
}

/* The groups, most asked first: count, when last, what was asked. */
static void
print_unanswered(const cJSON *o, int days)
{
	const cJSON *g, *t;
	char at[64];

	printf("%.0f questions in %.0f groups over the last %d day%s\n",
	    n_of(o, "questions"), n_of(o, "groups"), days,
	    days == 1 ? "" : "s");
	cJSON_ArrayForEach(g, cJSON_GetObjectItem(o, "unanswered"))
	{
		when(n_of(g, "last_ms"), at, sizeof(at));
		printf("\n%.0f×  last %s", n_of(g, "count"), at);
		if (*s_of(g, "candidates"))
			printf("  (closest entries: %s)",
			    s_of(g, "candidates"));
		printf("\n");
		cJSON_ArrayForEach(t, cJSON_GetObjectItem(g, "texts"))
		    printf("    %s\n", t->valuestring);
	}
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"owner", required_argument, NULL, 'o'},
	    {"days", required_argument, NULL, 'd'},
	    {"socket", required_argument, NULL, 's'},
	    {"instance", required_argument, NULL, 'i'},
	    {"config", required_argument, NULL, 'c'},
	    {"older-than", required_argument, NULL, 'O'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = getenv("KEFU_CONTROL_SOCKET"), *owner = NULL, *cmd;
	const char *rt = getenv("RUNTIME_DIRECTORY"), *tz;
	char request[1024], dflt[PATH_MAX], view[PATH_MAX];
	const char *fallback = view;
	int ch, json = 0, ok, days = 30, older = 0;
	cJSON *o;
	char *text;

	snprintf(view, sizeof(view), "%s", KEFU_VIEW_SOCKET);
	if (rt != NULL && *rt != '\0') /* under the unit: ExecReload */
		snprintf(dflt, sizeof(dflt), "%.*s/kefud.sock",
		    (int)strcspn(rt, ":"), rt);
	else
		snprintf(dflt, sizeof(dflt), "%s", KEFU_CONTROL_SOCKET);
	if (path == NULL || *path == '\0')
		path = dflt;
	else
		fallback = NULL; /* named: that kefud, no other */
	while ((ch = getopt_long(argc, argv, "js:i:c:o:d:Vh", longopts,
	            NULL)) != -1)
		switch (ch) {
		case 'd':
			if ((days = whole(optarg)) < 1)
				usage(2);
			break;
		case 'O':
			if ((older = whole(optarg)) < 1)
				usage(2);
			break;
		case 'j':
			json = 1;
			break;
		case 's':
			path = optarg;
			fallback = NULL;
			break;
		case 'i': /* kefud@NAME.service */
			if (strchr(optarg, '/') != NULL || *optarg == '\0')
				usage(2);
			snprintf(dflt, sizeof(dflt), "%s/kefu@%s/kefud.sock",
			    KEFU_RUN_DIR, optarg);
			snprintf(view, sizeof(view),
			    "%s/kefu-view/kefud@%s/kefud.sock", KEFU_RUN_DIR,
			    optarg);
			path = dflt;
			break;
		case 'c':
			/* The configuration's socket; without one, the unit's
			 * ($RUNTIME_DIRECTORY, as ExecReload runs), never a
			 * guess that could reach another shop's kefud. */
			if ((text = socket_of(optarg)) != NULL)
				path = text;
			else if (rt != NULL && *rt != '\0')
				path = dflt;
			else {
				fprintf(stderr,
				    "kefuctl: %s names no control_socket: use "
				    "-s SOCKET, or -i NAME for kefud@NAME\n",
				    optarg);
				return 2;
			}
			fallback = NULL;
			break;
		case 'o':
			owner = optarg;
			break;
		case 'V':
			printf("kefuctl %s\n", KEFU_VERSION);
			return 0;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	if (optind >= argc)
		usage(2);
	cmd = argv[optind];
	if (strcmp(cmd, "show") == 0 || strcmp(cmd, "handback") == 0) {
		if (optind + 2 != argc || strchr(argv[optind + 1], ' ') != NULL)
			usage(2);
		snprintf(request, sizeof(request), "%s %s", cmd,
		    argv[optind + 1]);
	} else if (strcmp(cmd, "conversations") == 0) {
		if (optind + 1 != argc)
			usage(2);
		snprintf(request, sizeof(request), "conversations%s%s",
		    owner != NULL ? " " : "", owner != NULL ? owner : "");
	} else if (strcmp(cmd, "unanswered") == 0) {
		if (optind + 1 != argc)
			usage(2);
		snprintf(request, sizeof(request), "unanswered %d", days);
	} else if (strcmp(cmd, "log-level") == 0) {
		if (optind + 2 < argc)
			usage(2);
		snprintf(request, sizeof(request), "log-level%s%s",
		    optind + 1 < argc ? " " : "",
		    optind + 1 < argc ? argv[optind + 1] : "");
	} else if (strcmp(cmd, "purge") == 0) {
		if (optind + 1 != argc || older < 1)
			usage(2);
		snprintf(request, sizeof(request), "purge %d", older);
	} else if (strcmp(cmd, "status") == 0 || strcmp(cmd, "reload") == 0 ||
	    strcmp(cmd, "stats") == 0) {
		if (optind + 1 != argc)
			usage(2);
		snprintf(request, sizeof(request), "%s", cmd);
	} else
		usage(2);

	o = ask(path, fallback, request);
	ok = cJSON_IsTrue(cJSON_GetObjectItem(o, "ok"));
	/* Times in the shop's zone, as its duty hours are. */
	if ((tz = s_of(o, "timezone"))[0] != '\0' && setenv("TZ", tz, 1) == 0)
		tzset();
	if (json) {
		text = cJSON_Print(o);
		printf("%s\n", text);
		free(text);
	} else if (!ok) {
		const cJSON *m;

		fprintf(stderr, "kefuctl: %s%s\n",
		    strcmp(cmd, "reload") == 0 &&
		            strncmp(s_of(o, "error"), "reload:", 7) != 0
		        ? "reload failed: "
		        : "",
		    s_of(o, "error"));
		cJSON_ArrayForEach(m, cJSON_GetObjectItem(o, "messages"))
		    fprintf(stderr, "  %s\n", m->valuestring);
	} else if (strcmp(cmd, "status") == 0)
		print_status(o);
	else if (strcmp(cmd, "reload") == 0) {
		printf("reload ok: generation %.0f\n", n_of(o, "generation"));
		print_plugins(o);
	} else if (strcmp(cmd, "stats") == 0)
		print_stats(o);
	else if (strcmp(cmd, "conversations") == 0)
		print_conversations(o);
	else if (strcmp(cmd, "show") == 0)
		print_show(o);
	else if (strcmp(cmd, "unanswered") == 0)
		print_unanswered(o, days);
	else if (strcmp(cmd, "log-level") == 0)
		printf("log level: %s%s\n", s_of(o, "log_level"),
		    optind + 1 < argc ? " (until the next reload)" : "");
	else if (strcmp(cmd, "purge") == 0)
		printf("deleting %s%.0f conversations idle over %d days, with "
		       "their transcripts, in batches: see the log\n",
		    cJSON_IsTrue(cJSON_GetObjectItem(o, "more")) ? "at least "
		                                                 : "",
		    n_of(o, "conversations"), older);
	else
		printf("%s: %s -> %s\n", argv[optind + 1], s_of(o, "was"),
		    s_of(o, "owner"));
	cJSON_Delete(o);
	return ok ? 0 : 1;
}
