/*
 * Operations: kefuctl against a running kefud (the shipped configuration,
 * the sandbox platform), the Prometheus endpoint read line by line, and
 * the systemd unit checked by systemd-analyze.
 */
#include "../sandbox.h"

#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <sys/wait.h>

TestSuite(ops, .init = sb_setup, .fini = sb_teardown, .timeout = 300);

static int metrics_port;

static void
start(void)
{
	char extra[256];

	metrics_port = h_free_port();
	snprintf(extra, sizeof(extra),
	    "control_socket = \"kefud.sock\";\nview_socket = \"view.sock\";\n"
	    "metrics_listen = \"127.0.0.1:%d\";\n",
	    metrics_port);
	sb_config_shipped(&sb, NULL, extra);
	sb_start_kefud(&sb);
	h_wait_log(sb.klog, "link: ready", 0);
}

/* kefuctl's output (stdout and stderr) and exit status, on a socket. */
static int
kefuctl_on(const char *sock, char **out, const char *args)
{
	char *cmd, buf[4096];
	size_t n = 0, cap = 0;
	FILE *p;
	int st;

	cr_assert(asprintf(&cmd, "%s/kefuctl -s %s/%s %s 2>&1", KEFU_BUILD,
	              sb.dir, sock, args) > 0);
	cr_assert_not_null(p = popen(cmd, "r"));
	*out = NULL;
	while (fgets(buf, sizeof(buf), p) != NULL) {
		size_t l = strlen(buf);

		if (n + l + 1 > cap)
			*out = realloc(*out, cap = (n + l + 1) * 2);
		memcpy(*out + n, buf, l + 1);
		n += l;
	}
	if (*out == NULL)
		*out = strdup("");
	st = pclose(p);
	free(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
kefuctl(char **out, const char *args)
{
	return kefuctl_on("kefud.sock", out, args);
}

static void
expect_line(const char *out, const char *line)
{
	char *want;

	cr_assert(asprintf(&want, "\n%s\n", line) > 0);
	cr_expect(strncmp(out, line, strlen(line)) == 0 ||
	        strstr(out, want) != NULL,
	    "no line \"%s\" in:\n%s", line, out);
	free(want);
}

static int
open_fds(void)
{
	char path[64];
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)sb.kefud);
	cr_assert_not_null(d = opendir(path));
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

Test(ops, kefuctl_status_stats_conversations_show_handback)
{
	char *out, *m;
	cJSON *j;
	int fds, i;

	start();
	cr_expect_eq(kefuctl(&out, "status"), 0, "%s", out);
	expect_line(out, "link: ready");
	expect_line(out, "shop: 暖衣小铺");
	expect_line(out, "plugins: greeting 1.0.0, faq 1.0.0, escalate 1.0.0");
	expect_line(out, "last reload: none");
	expect_line(out, "conversations: bot 0, waiting 0, agent 0, closed 0");
	expect_line(out, "store: ok");
	free(out);

	/* A scripted conversation: hello, an FAQ, a request for a person. */
	m = sb_say(&sb, "c-1", "你好");
	sb_expect_one_reply(&sb, m);
	free(m);
	m = sb_say(&sb, "c-1", "有优惠券吗");
	sb_expect_one_reply(&sb, m);
	free(m);
	m = sb_say(&sb, "c-1", "转人工");
	sb_wait_ids(&sb, "h:", 1);
	sb_settle(&sb);
	free(m);

	cr_expect_eq(kefuctl(&out, "stats"), 0, "%s", out);
	expect_line(out, "messages_in: 3");
	expect_line(out, "replies_out: 3");
	expect_line(out, "conversations: 1");
	expect_line(out, "conversations_handed_off: 1");
	expect_line(out, "handoffs: 1");
	expect_line(out, "handoffs_by_reason.human_request: 1");
	expect_line(out, "deflection_rate: 0");
	expect_line(out, "first_response.count: 3");
	expect_line(out, "first_response.under_10s: 1");
	expect_line(out, "plugin.faq.cutoffs: calibrated");
	cr_expect(strstr(out, "\nplugin.faq.answer_percent: ") != NULL, "%s",
	    out);
	free(out);
	cr_expect_eq(kefuctl(&out, "--json stats"), 0);
	cr_assert_not_null(j = cJSON_Parse(out), "%s", out);
	cr_expect_eq(cJSON_GetObjectItem(j, "messages_in")->valueint, 3);
	cJSON_Delete(j);
	free(out);

	cr_expect_eq(kefuctl(&out, "conversations --owner waiting"), 0);
	cr_expect(strstr(out, "\nc-1\twaiting\tu-c-1\t") != NULL, "%s", out);
	free(out);
	cr_expect_eq(kefuctl(&out, "conversations --owner agent"), 0);
	cr_expect_str_eq(out, "ID\tOWNER\tCUSTOMER\tLAST ACTIVE\tLINES\n");
	free(out);
	cr_expect_eq(kefuctl(&out, "conversations --owner nobody"), 1);
	cr_expect(strstr(out, "unknown owner") != NULL, "%s", out);
	free(out);

	cr_expect_eq(kefuctl(&out, "show c-1"), 0, "%s", out);
	expect_line(out, "owner: waiting");
	expect_line(out, "intents: human_request");
	cr_expect(strstr(out, " customer 转人工\n") != NULL, "%s", out);
	cr_expect(strstr(out, " customer 有优惠券吗\n") != NULL, "%s", out);
	free(out);
	cr_expect_eq(kefuctl(&out, "show c-404"), 1);
	expect_line(out, "kefuctl: no conversation \"c-404\"");
	free(out);

	cr_expect_eq(kefuctl(&out, "handback c-1"), 0, "%s", out);
	expect_line(out, "c-1: waiting -> bot");
	free(out);
	cr_expect_eq(kefuctl(&out, "handback c-1"), 1);
	expect_line(out, "kefuctl: conversation c-1 is bot, not with an agent");
	free(out);
	/* Back with the bot: it answers. */
	m = sb_say(&sb, "c-1", "有优惠券吗");
	sb_expect_one_reply(&sb, m);
	free(m);

	/* Requests leave no descriptor behind. */
	fds = open_fds();
	for (i = 0; i < 30; i++) {
		cr_assert_eq(kefuctl(&out, "status"), 0);
		free(out);
	}
	cr_expect_eq(open_fds(), fds, "kefuctl requests leak descriptors");

	cr_expect_eq(kefuctl(&out, "bogus"), 2);
	free(out);
}

/*
 * What the bot could not answer is kept, grouped by similarity and
 * counted, and still there after a restart; a question it answered is
 * not listed.
 */
Test(ops, kefuctl_unanswered_groups_and_survives_a_restart)
{
	static const char *const asked[][2] = {{"u-1",
	                                           "你们家支持花呗分期付款吗"},
	    {"u-2", "支持花呗分期付款吗"}, {"u-3", "花呗分期付款支持吗"},
	    {"u-4", "你们店里养的猫叫什么名字"}, {"u-5", "有优惠券吗"}};
	char *out, *m, *a, *b, *log;
	size_t i;

	start();
	for (i = 0; i < sizeof(asked) / sizeof(*asked); i++) {
		double end = h_now() + H_TIMEOUT_S;

		/* A greeting may come with the first answer: one or more. */
		m = sb_say(&sb, asked[i][0], asked[i][1]);
		while (sb_replies(&sb, m, NULL) == 0 && h_now() < end)
			h_sleep_ms(20);
		cr_expect_geq(sb_replies(&sb, m, NULL), 1, "no reply to %s",
		    asked[i][1]);
		free(m);
	}
	sb_settle(&sb); /* acknowledged: written */
	cr_expect_eq(kefuctl(&out, "unanswered"), 0, "%s", out);
	expect_line(out, "4 questions in 2 groups over the last 30 days");
	a = strstr(out, "\n3×  last ");
	b = strstr(out, "\n1×  last ");
	cr_expect(a != NULL && b != NULL && a < b,
	    "the most asked group first:\n%s", out);
	cr_expect(strstr(out, "    支持花呗分期付款吗\n") != NULL, "%s", out);
	cr_expect(strstr(out, "    你们店里养的猫叫什么名字\n") != NULL, "%s",
	    out);
	cr_expect(strstr(out, "有优惠券吗") == NULL,
	    "answered, not listed:\n%s", out);
	free(out);
	cr_expect_eq(kefuctl(&out, "unanswered --days 0"), 2, "usage: %s", out);
	free(out);
	cr_expect_eq(kefuctl(&out, "stats"), 0, "%s", out);
	expect_line(out, "unanswered: 4");
	free(out);

	kill(sb.kefud, SIGTERM);
	cr_expect_eq(h_wait_exit(sb.kefud), 0);
	log = h_read(sb.klog);
	sb_start_kefud(&sb);
	h_wait_log(sb.klog, "link: ready", strlen(log));
	free(log);
	cr_expect_eq(kefuctl(&out, "unanswered --days 1"), 0, "%s", out);
	expect_line(out, "4 questions in 2 groups over the last 1 day");
	free(out);
}

Test(ops, kefuctl_reload_says_what_went_wrong)
{
	char *out, *conf;
	FILE *fp;

	start();
	cr_expect_eq(kefuctl(&out, "reload"), 0, "%s", out);
	expect_line(out, "reload ok: generation 2");
	free(out);

	conf = h_path(sb.dir, "kefud.conf");
	cr_assert_not_null(fp = fopen(conf, "a"));
	fprintf(fp, "bogus_key = 1;\n");
	fclose(fp);
	cr_expect_eq(kefuctl(&out, "reload"), 1, "%s", out);
	cr_expect(strstr(out, "kefuctl: reload failed: ") != NULL, "%s", out);
	cr_expect(strstr(out, "kefud.conf:") != NULL &&
	        strstr(out, ": bogus_key: unknown key") != NULL,
	    "the exact error is missing:\n%s", out);
	free(out);
	cr_expect_eq(kefuctl(&out, "status"), 0);
	cr_expect(strstr(out, "\nlast reload: ") != NULL &&
	        strstr(out, " failed: ") != NULL,
	    "%s", out);
	free(out);
	free(conf);
	h_wait_log(sb.klog, "still serving generation 2", 0);
}

/* The metrics endpoint, every line parsed. */
Test(ops, prometheus_endpoint)
{
	char req[] = "GET /metrics HTTP/1.0\r\n\r\n", buf[65536], *line,
	     *save = NULL, *body, *m;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	double prev = -1, v;
	int fd, n = 0, samples = 0, alerts = 0;
	ssize_t r;

	start();
	m = sb_say(&sb, "c-9", "你好");
	sb_expect_one_reply(&sb, m);
	free(m);

	sin.sin_port = htons(metrics_port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while ((r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += r;
	close(fd);
	buf[n] = '\0';
	cr_assert(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", buf);
	cr_assert_not_null(body = strstr(buf, "\r\n\r\n"));
	for (line = strtok_r(body + 4, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[128], *sp;

		if (line[0] == '#') {
			cr_expect(strncmp(line, "# HELP ", 7) == 0 ||
			        strncmp(line, "# TYPE ", 7) == 0,
			    "%s", line);
			continue;
		}
		sp = strrchr(line, ' ');
		cr_assert_not_null(sp, "no value: %s", line);
		v = strtod(sp + 1, &m);
		cr_expect(*m == '\0' && v >= 0, "bad value: %s", line);
		snprintf(name, sizeof(name), "%.*s", (int)(sp - line), line);
		cr_expect(strncmp(name, "kefu_", 5) == 0 ||
		        strncmp(name, "process_", 8) == 0,
		    "%s", line);
		samples++;
		if (strcmp(name, "kefu_messages_in_total") == 0)
			cr_expect_eq(v, 1);
		if (strcmp(name, "kefu_replies_out_total") == 0)
			cr_expect_eq(v, 1);
		if (strcmp(name, "kefu_config_generation") == 0)
			cr_expect_eq(v, 1);
		if (strcmp(name, "kefu_live_conversations{owner=\"bot\"}") == 0)
			cr_expect_eq(v, 1);
		/* What an alert needs: the link, the disk, the last reload. */
		if (strcmp(name, "kefu_link_up") == 0 ||
		    strcmp(name, "kefu_store_ok") == 0 ||
		    strcmp(name, "kefu_config_last_reload_successful") == 0) {
			cr_expect_eq(v, 1, "%s", line);
			alerts++;
		}
		/* Histogram buckets are cumulative. */
		if (strncmp(name, "kefu_reply_latency_seconds_bucket", 33) ==
		    0) {
			cr_expect_geq(v, prev, "%s", line);
			prev = v;
		}
	}
	cr_expect_eq(alerts, 3);
	cr_expect(
	    strstr(buf,
	        "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") !=
	        NULL,
	    "%s", buf);
	cr_expect_eq(prev, 1, "+Inf bucket");
	cr_expect_gt(samples, 20);

	cr_assert((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_gt(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), 0);
	n = 0;
	while ((r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += r;
	close(fd);
	buf[n] = '\0';
	cr_expect(strncmp(buf, "HTTP/1.1 404", 12) == 0, "%s", buf);
}

/* The units as shipped (plain and template), with the paths of this
 * build, as systemd reads them. */
Test(ops, systemd_units_verify)
{
	static const char *const subst[][5] = {{"kefud.service", "", "", "kefu",
	                                           "kefu-view/kefud"},
	    {"kefud@shop1.service", "/%i", " for %i", "kefu@%i",
	        "kefu-view/kefud@%i"}};
	char *cmd, *unit, *text, *pre;
	size_t i;
	int st;

	for (i = 0; i < 2; i++) {
		unit = h_path(sb.dir, subst[i][0]);
		cr_assert(
		    asprintf(&cmd,
		        "sed -e 's#@SBINDIR@#%s#g' -e 's#@SYSCONFDIR@#/etc#g' "
		        "-e 's#@I@#%s#g' -e 's#@DESC@#%s#g' -e 's#@RT@#%s#g' "
		        "-e 's#@VIEW@#%s#g' "
		        "%s/systemd/kefud.service.in > %s && "
		        "systemd-analyze verify --man=no %s",
		        KEFU_BUILD, subst[i][1], subst[i][2], subst[i][3],
		        subst[i][4], KEFU_SRC, unit, unit) > 0);
		st = system(cmd);
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "systemd-analyze verify %s failed", subst[i][0]);
		free(cmd);
		text = h_read(unit);
		/* A broken configuration is not restarted forever, a fresh
		 * install without a token is skipped, and nothing is set to
		 * an empty no-op. */
		cr_expect(
		    strstr(text, "\nRestartPreventExitStatus=78\n") != NULL);
		cr_expect(strstr(text, "\nStartLimitBurst=") != NULL);
		cr_expect(strstr(text, "\nIPAddressDeny=\n") == NULL);
		cr_expect(strstr(text, "/run/kefu/kefud.sock") == NULL,
		    "ExecReload must follow the configuration's socket");
		/* RestartPreventExitStatus= sees the main process only: a
		 * kefud -t before it would be restarted whatever it said. */
		for (pre = strstr(text, "\nExecStartPre="); pre != NULL;
		     pre = strstr(pre + 1, "\nExecStartPre="))
			cr_expect(strncmp(strchr(pre, '=') + 1, "+", 1) == 0 &&
			        memmem(pre, strcspn(pre + 1, "\n"), "kefud -t",
			            8) == NULL,
			    "%.80s", pre + 1);
		cr_expect(strstr(text, "\n@@") == NULL &&
		        strstr(text, "@I@") == NULL &&
		        strstr(text, "@VIEW@") == NULL,
		    "a placeholder left");
		if (i == 1) {
			cr_expect(
			    strstr(text,
			        "\nConditionPathExists=/etc/kefu/%i/token\n") !=
			    NULL);
			cr_expect(
			    strstr(text, "\nStateDirectory=kefu/%i\n") != NULL);
			/* Not under the plain unit's /run/kefu, which goes
			 * when that unit stops. */
			cr_expect(strstr(text,
			              "\nRuntimeDirectory=kefu@%i\n") != NULL);
			cr_expect(
			    strstr(text,
			        "\nEnvironment=KEFU_VIEW_SOCKET=%t/"
			        "kefu-view/kefud@%i/kefud.sock\n") != NULL);
		}
		free(text);
		/* The writer's nice 10: setpriority is in @resources, which
		 * the unit takes away, so it must give it back after. */
		cr_assert(asprintf(&cmd,
		              "systemd-analyze syscall-filter @resources | "
		              "grep -qw setpriority && "
		              "grep -A3 '^SystemCallFilter=~.*@resources' %s | "
		              "grep -qx 'SystemCallFilter=setpriority'",
		              unit) > 0);
		st = system(cmd);
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "the unit forbids the writer's setpriority");
		free(cmd);
		free(unit);
	}
}

/* Datagrams kefud sent to NOTIFY_SOCKET within ms, joined with '|'. */
static void
notified(int fd, char *out, size_t len, int ms)
{
	double end = h_now() + ms / 1000.0;
	char buf[1024];
	ssize_t r;

	out[0] = '\0';
	while (h_now() < end) {
		if ((r = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
			buf[r] = '\0';
			strncat(out, buf, len - strlen(out) - 2);
			strcat(out, "|");
		} else
			h_sleep_ms(10);
	}
}

/*
 * Type=notify: READY=1 once live, STATUS= with the link, RELOADING=1 and
 * MONOTONIC_USEC around a reload, and WATCHDOG=1 only while the loop
 * turns (none while the process is stopped).
 */
Test(ops, service_manager_notifications)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char got[16384];
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/notify", sb.dir);
	cr_assert((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	setenv("NOTIFY_SOCKET", sun.sun_path, 1);
	setenv("WATCHDOG_USEC", "400000", 1);
	sb_config_shipped(&sb, NULL, "");
	sb_start_kefud(&sb);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	h_wait_log(sb.klog, "link: ready", 0);
	notified(fd, got, sizeof(got), 1500);
	cr_expect(strstr(got, "READY=1|") != NULL, "%s", got);
	cr_expect(strstr(got, "WATCHDOG=1|") != NULL, "%s", got);
	cr_expect(strstr(got, "STATUS=link ") != NULL, "%s", got);

	kill(sb.kefud, SIGHUP);
	h_wait_log(sb.klog, "reload ok", 0);
	notified(fd, got, sizeof(got), 300);
	cr_expect(strstr(got, "RELOADING=1\nMONOTONIC_USEC=") != NULL, "%s",
	    got);
	cr_expect(strstr(strstr(got, "RELOADING=1"), "READY=1") != NULL, "%s",
	    got);

	kill(sb.kefud, SIGSTOP);
	notified(fd, got, sizeof(got), 100); /* what was under way */
	notified(fd, got, sizeof(got), 1000);
	cr_expect_str_eq(got, "", "notified while stopped");
	kill(sb.kefud, SIGCONT);
	notified(fd, got, sizeof(got), 1000);
	cr_expect(strstr(got, "WATCHDOG=1|") != NULL, "%s", got);
	close(fd);
}

/* A TCP connection to the metrics port that says nothing. */
static int
idle_client(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	    .sin_port = htons(metrics_port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

/* Whether kefud closed fd within s seconds. */
static int
closed_within(int fd, int s)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	return poll(&p, 1, s * 1000) == 1 && read(fd, &c, 1) <= 0;
}

/* User and system CPU of kefud so far, in clock ticks. */
static long
cpu_ticks(void)
{
	char path[64], *st, *p;
	long u = 0, s = 0;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)sb.kefud);
	st = h_read(path);
	p = strrchr(st, ')');
	for (i = 0; p != NULL && i < 12; i++) /* to field 14, utime */
		p = strchr(p + 1, ' ');
	if (p != NULL)
		sscanf(p + 1, "%ld %ld", &u, &s);
	free(st);
	return u + s;
}

/*
 * Any local user can reach the metrics port: connections that say
 * nothing are closed after a few seconds, a crowd of them is turned away
 * at the door, and kefuctl (its own socket) still answers meanwhile.
 */
Test(ops, idle_clients_time_out_and_a_crowd_is_turned_away)
{
	int fds[48], i, gone = 0;
	char *out;

	start();
	for (i = 0; i < 48; i++)
		fds[i] = idle_client();
	for (i = 0; i < 48; i++)
		gone += closed_within(fds[i], 0);
	h_sleep_ms(500);
	for (i = gone = 0; i < 48; i++)
		gone += closed_within(fds[i], 0);
	cr_expect_geq(gone, 48 - 32, "a crowd of %d was let in", 48 - gone);
	cr_expect_eq(kefuctl(&out, "status"), 0, "%s", out);
	free(out);
	for (i = gone = 0; i < 48; i++)
		gone += closed_within(fds[i], 30);
	cr_expect_eq(gone, 48, "idle clients kept open");
	for (i = 0; i < 48; i++)
		close(fds[i]);
}

/*
 * Out of file descriptors (a limit lowered on the running kefud, then a
 * crowd on the metrics port): the loop does not spin on accept, the
 * platform link stays up, and all is well once the crowd is gone.
 */
Test(ops, out_of_descriptors_the_loop_does_not_spin)
{
	struct rlimit lim;
	int fds[40], i;
	long before;
	char *out, *m;

	start();
	lim.rlim_cur = lim.rlim_max = (rlim_t)open_fds() + 4;
	cr_assert(prlimit(sb.kefud, RLIMIT_NOFILE, &lim, NULL) == 0);
	for (i = 0; i < 40; i++)
		fds[i] = idle_client();
	h_sleep_ms(200);
	before = cpu_ticks();
	h_sleep_ms(2000);
	/* A spinning loop burns the two seconds whole (200 ticks). */
	cr_expect_lt(cpu_ticks() - before, 50, "the loop spins on accept");
	h_wait_log(sb.klog, "out of file descriptors; connections refused", 0);
	for (i = 0; i < 40; i++)
		close(fds[i]);
	h_sleep_ms(6000); /* the idle ones time out */
	cr_expect_eq(kefuctl(&out, "status"), 0, "%s", out);
	expect_line(out, "link: ready");
	free(out);
	m = sb_say(&sb, "c-fd", "你好");
	sb_expect_one_reply(&sb, m);
	free(m);
}

/* People who may look but not act: the view socket answers what is, and
 * refuses what would change anything. */
Test(ops, the_view_socket_looks_but_does_not_act)
{
	static const char *const acts[] = {"reload", "handback c-1",
	    "purge --older-than 30", NULL};
	char *out, *m;
	int i;

	start();
	m = sb_say(&sb, "c-1", "转人工");
	sb_wait_ids(&sb, "h:", 1);
	sb_settle(&sb);
	free(m);
	cr_expect_eq(kefuctl_on("view.sock", &out, "status"), 0, "%s", out);
	expect_line(out, "link: ready");
	free(out);
	cr_expect_eq(kefuctl_on("view.sock", &out, "show c-1"), 0, "%s", out);
	expect_line(out, "owner: waiting");
	free(out);
	cr_expect_eq(kefuctl_on("view.sock", &out, "stats"), 0, "%s", out);
	free(out);
	for (i = 0; acts[i] != NULL; i++) {
		cr_expect_eq(kefuctl_on("view.sock", &out, acts[i]), 1, "%s",
		    out);
		cr_expect(strstr(out, "not allowed on the read-only socket") !=
		        NULL,
		    "%s: %s", acts[i], out);
		free(out);
	}
	cr_expect_eq(kefuctl_on("view.sock", &out, "log-level debug"), 1, "%s",
	    out);
	cr_expect(strstr(out, "not allowed on the read-only socket") != NULL,
	    "%s", out);
	free(out);
	cr_expect_eq(kefuctl_on("view.sock", &out, "log-level"), 0, "%s", out);
	expect_line(out, "log level: info");
	free(out);
	/* Nothing changed: still waiting for an agent. */
	cr_expect_eq(kefuctl(&out, "show c-1"), 0, "%s", out);
	expect_line(out, "owner: waiting");
	free(out);
}

/* kefuctl -c finds the socket a configuration names, as the unit's
 * ExecReload does; a configuration that names none is refused rather
 * than guessed at, since the guess could be another shop's kefud. */
Test(ops, kefuctl_finds_the_socket_through_the_configuration)
{
	char *cmd, *bare, buf[512] = "";
	FILE *p;
	int st;

	start();
	unsetenv("RUNTIME_DIRECTORY");
	cr_assert(asprintf(&cmd, "%s/kefuctl -c %s reload 2>&1", KEFU_BUILD,
	              sb.conf) > 0);
	cr_assert_not_null(p = popen(cmd, "r"));
	cr_expect_not_null(fgets(buf, sizeof(buf), p));
	st = pclose(p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", buf);
	cr_expect_eq(strncmp(buf, "reload ok: generation 2", 23), 0, "%s", buf);
	free(cmd);
	bare = h_write(sb.dir, "bare.conf", "plugins = [];\n");
	cr_assert(asprintf(&cmd, "%s/kefuctl -c %s status 2>&1", KEFU_BUILD,
	              bare) > 0);
	cr_assert_not_null(p = popen(cmd, "r"));
	cr_expect_not_null(fgets(buf, sizeof(buf), p));
	st = pclose(p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s", buf);
	cr_expect_not_null(strstr(buf, "names no control_socket"), "%s", buf);
	free(cmd);
	free(bare);
}

/* Verbosity at run time, until the next reload takes the configuration's
 * again. */
Test(ops, kefuctl_log_level_until_the_next_reload)
{
	char *out, *m;
	size_t from;

	start();
	cr_expect_eq(kefuctl(&out, "log-level loud"), 1, "%s", out);
	free(out);
	cr_expect_eq(kefuctl(&out, "log-level debug"), 0, "%s", out);
	expect_line(out, "log level: debug (until the next reload)");
	free(out);
	from = strlen(m = h_read(sb.klog));
	free(m);
	m = sb_say(&sb, "c-1", "你好");
	sb_expect_one_reply(&sb, m);
	free(m);
	h_wait_log(sb.klog, ": reply from ", from); /* a debug line */
	cr_expect_eq(kefuctl(&out, "reload"), 0, "%s", out);
	free(out);
	cr_expect_eq(kefuctl(&out, "log-level"), 0, "%s", out);
	expect_line(out, "log level: info");
	free(out);
}

/* kefuctl purge: conversations idle past the limit go now, with their
 * transcripts; a recent one and one waiting for an agent stay. */
Test(ops, kefuctl_purge_deletes_old_conversations_now)
{
	char *out, *m, *db;
	sqlite3 *h;
	sqlite3_stmt *st;
	double end;
	int left = -1;
	long long old = (long long)time(NULL) * 1000 - 40LL * 86400000;

	start();
	m = sb_say(&sb, "c-new", "你好");
	sb_expect_one_reply(&sb, m);
	free(m);
	sb_settle(&sb);
	/* Two conversations from 40 days ago, as an older kefud left them:
	 * one closed, one still waiting for an agent. */
	db = h_path(sb.dir, "state/kefu.db");
	cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
	sqlite3_busy_timeout(h, 10000);
	cr_assert(
	    asprintf(&m,
	        "INSERT INTO conv(id, owner, last_ms, waiting_since, asked_ms) VALUES('c-old', 3, %lld, 0, 0);"
	        "INSERT INTO line VALUES('c-old', 0, %lld, 'customer', '我的订单号是 123');"
	        "INSERT INTO conv(id, owner, last_ms, waiting_since, asked_ms) VALUES('c-wait', 1, %lld, %lld, 0);",
	        old, old, old, old) > 0);
	cr_assert_eq(sqlite3_exec(h, m, NULL, NULL, NULL), SQLITE_OK, "%s",
	    sqlite3_errmsg(h));
	free(m);

	cr_expect_eq(kefuctl(&out, "purge --older-than 0"), 2, "%s", out);
	free(out);
	cr_expect_eq(kefuctl(&out, "purge --older-than 30"), 0, "%s", out);
	expect_line(out,
	    "deleting 1 conversations idle over 30 days, with "
	    "their transcripts, in batches: see the log");
	free(out);
	for (end = h_now() + H_TIMEOUT_S; left != 0 && h_now() < end;
	     h_sleep_ms(50)) {
		cr_assert_eq(
		    sqlite3_prepare_v2(h,
		        "SELECT (SELECT count(*) FROM conv WHERE id = 'c-old')"
		        " + (SELECT count(*) FROM line WHERE conv = 'c-old')",
		        -1, &st, NULL),
		    SQLITE_OK);
		if (sqlite3_step(st) == SQLITE_ROW)
			left = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	cr_expect_eq(left, 0, "c-old and its lines are still there");
	cr_assert_eq(
	    sqlite3_prepare_v2(h,
	        "SELECT count(*) FROM conv WHERE id IN ('c-new', 'c-wait')", -1,
	        &st, NULL),
	    SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_eq(sqlite3_column_int(st, 0), 2);
	sqlite3_finalize(st);
	sqlite3_close(h);
	free(db);
	h_wait_log(sb.klog, "1 conversations idle over 30 days deleted", 0);
}

/* Times in the shop's zone (calendar.timezone), whatever the server's. */
Test(ops, kefuctl_prints_times_in_the_shops_time_zone)
{
	char *out, *m, want[64];
	cJSON *j, *line;
	time_t t;
	struct tm tm;

	start();
	m = sb_say(&sb, "c-1", "你好");
	sb_expect_one_reply(&sb, m);
	free(m);
	cr_assert_eq(setenv("TZ", "UTC", 1), 0); /* the server's, for kefuctl */
	cr_expect_eq(kefuctl(&out, "--json show c-1"), 0, "%s", out);
	cr_assert_not_null(j = cJSON_Parse(out), "%s", out);
	free(out);
	line = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "transcript"), 0);
	cr_assert_not_null(line);
	t = (time_t)(cJSON_GetObjectItem(line, "ts")->valuedouble / 1000);
	cJSON_Delete(j);
	cr_assert_eq(setenv("TZ", "Asia/Shanghai", 1), 0);
	tzset();
	localtime_r(&t, &tm);
	strftime(want, sizeof(want), "  %Y-%m-%d %H:%M:%S customer", &tm);
	cr_assert_eq(setenv("TZ", "UTC", 1), 0);
	cr_expect_eq(kefuctl(&out, "show c-1"), 0, "%s", out);
	cr_expect(strstr(out, want) != NULL, "no \"%s\" in:\n%s", want, out);
	free(out);
	unsetenv("TZ");
	tzset();
}
