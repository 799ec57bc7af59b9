/*
 * A real kefud process: command line, transactional reload on real
 * signals, graceful stop.
 */
#include "../harness.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "kefu/plugin.h"
#include "version.h"

static char *dir, *kefud, *logpath;

static void
setup(void)
{
	dir = h_tmpdir();
	kefud = h_build("kefud");
	logpath = h_path(dir, "kefud.log");
}

static void
teardown(void)
{
	h_expect_clean_log(logpath);
	h_rmrf(dir);
	free(dir);
	free(kefud);
	free(logpath);
}

TestSuite(daemon, .init = setup, .fini = teardown, .timeout = 240);

static char *
config(const char *plugins, const char *sections)
{
	return h_write(dir, "kefud.conf",
	    "log_level = \"info\";\nstate_dir = \"state\";\nplugin_dir = \"plugins\";\nplugins = [%s];\n%s",
	    plugins, sections);
}

/* Makes the log file look like journald's stream to the kefud spawned
 * next, as systemd does with $JOURNAL_STREAM: lines get priorities. */
static void
journal_is(const char *path)
{
	struct stat st;
	char v[64];
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);

	cr_assert(fd >= 0 && fstat(fd, &st) == 0);
	close(fd);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	cr_assert(setenv("JOURNAL_STREAM", v, 1) == 0);
}

/* A kefud with no plugins and no platform, once it is live; its
 * configuration in *confp. */
static pid_t
start_bare(char **confp)
{
	char *argv[] = {kefud, "-c", NULL, NULL};
	pid_t pid;

	argv[2] = *confp = config("", "");
	pid = h_spawn(argv, logpath);
	h_wait_log(logpath, "generation 1 live", 0);
	return pid;
}

static int
run(char *const argv[])
{
	return h_wait_exit(h_spawn(argv, logpath));
}

Test(daemon, version)
{
	char *argv[] = {kefud, "-V", NULL}, *want, *out;

	cr_expect_eq(run(argv), 0);
	out = h_read(logpath);
	cr_assert(asprintf(&want, "kefud %s (plugin ABI %d.%d)\n", KEFU_VERSION,
	              KEFU_ABI_MAJOR, KEFU_ABI_MINOR) > 0);
	cr_expect_str_eq(out, want);
	free(out);
	free(want);
}

Test(daemon, check_mode_accepts_a_good_configuration)
{
	char *plugdir = h_path(dir, "plugins"), *conf, *out;
	char *argv[] = {kefud, "-t", "-c", NULL, NULL};

	cr_assert(mkdir(plugdir, 0755) == 0);
	h_plugin(plugdir, "good", "good");
	conf = config("\"good\"", "good = { reply = \"hi\"; };\n");
	argv[3] = conf;
	cr_expect_eq(run(argv), 0);
	out = h_read(logpath);
	cr_expect_not_null(strstr(out, "plugins: good 1.0.0"), "%s", out);
	cr_expect_not_null(strstr(out, "test is successful"), "%s", out);
	free(out);
	free(conf);
	free(plugdir);
}

/* -t reports a plugin's own configuration errors with file and line. */
Test(daemon, check_mode_reports_plugin_configuration)
{
	char *plugdir = h_path(dir, "plugins"), *conf, *out, *want;
	char *argv[] = {kefud, "-t", "-c", NULL, NULL};

	cr_assert(mkdir(plugdir, 0755) == 0);
	h_plugin(plugdir, "good", "good");
	conf = config("\"good\"", "good = {\n  reply = 42;\n};\n");
	argv[3] = conf;
	cr_expect_eq(run(argv), 78);
	out = h_read(logpath);
	cr_assert(asprintf(&want,
	              "%s:6: good.reply: expected a string, found an integer",
	              conf) > 0);
	cr_expect_not_null(strstr(out, want), "%s", out);
	cr_expect_not_null(strstr(out, "configuration check failed"), "%s",
	    out);
	free(want);
	free(out);
	free(conf);
	free(plugdir);
}

Test(daemon, refuses_to_start_on_a_broken_configuration)
{
	char *conf = h_write(dir, "kefud.conf", "plugins = [\n"), *out;
	char *argv[] = {kefud, "-c", conf, NULL};

	journal_is(logpath);
	cr_expect_eq(run(argv), 78,
	    "EX_CONFIG, which the unit does not restart");
	out = h_read(logpath);
	cr_expect_not_null(strstr(out, "syntax error"), "%s", out);
	cr_expect_not_null(strstr(out, "<3>cannot start: "), "%s", out);
	free(out);
	/* Redirected to a file, not the journal: plain lines. */
	unsetenv("JOURNAL_STREAM");
	truncate(logpath, 0);
	cr_expect_eq(run(argv), 78);
	out = h_read(logpath);
	cr_expect_not_null(strstr(out, "\nerror: cannot start: "), "%s", out);
	cr_expect_null(strstr(out, "<3>"), "%s", out);
	free(out);
	free(conf);
}

/*
 * The whole reload story against one running process: a plugin rebuilt in
 * place becomes live on SIGHUP; a broken plugin or a broken configuration
 * leaves the live set untouched; SIGTERM exits 0.
 */
Test(daemon, transactional_reload)
{
	char *plugdir = h_path(dir, "plugins"), *so, *conf, *out, *tail;
	char *argv[] = {kefud, "-c", NULL, NULL};
	size_t at;
	pid_t pid;

	cr_assert(mkdir(plugdir, 0755) == 0);
	so = h_path(plugdir, "versioned.so");
	h_plugin(plugdir, "versioned-1", "versioned");
	conf = config("\"versioned\"", "versioned = { reply = \"hi\"; };\n");
	argv[2] = conf;
	journal_is(logpath);
	pid = h_spawn(argv, logpath);
	unsetenv("JOURNAL_STREAM");
	at = h_wait_log(logpath, "<6>generation 1 live: versioned 1.0.0", 0);
	at = h_wait_log(logpath, "tick versioned 1.0.0", at);

	/* Rebuilt in place, as `make` or `cp` would. */
	h_plugin(plugdir, "versioned-2", "versioned");
	cr_assert(kill(pid, SIGHUP) == 0);
	at = h_wait_log(logpath, "<6>reload ok: generation 1 -> 2 in ", at);
	at = h_wait_log(logpath,
	    "plugins before: versioned 1.0.0; after: versioned 2.0.0", at);
	at = h_wait_log(logpath, "tick versioned 2.0.0", at);
	h_wait_log(logpath, "tick versioned 2.0.0", at); /* and again */
	out = h_read(logpath);
	cr_expect_null(strstr(out + at - strlen("tick versioned 2.0.0"),
	                   "tick versioned 1.0.0"),
	    "old code still ticking");
	free(out);

	/* A broken plugin: the old set stays live. */
	h_plugin(plugdir, "nodesc", "versioned");
	cr_assert(kill(pid, SIGHUP) == 0);
	at = h_wait_log(logpath, "versioned.so: refused: no descriptor", at);
	at = h_wait_log(logpath,
	    "<3>reload failed: plugin \"versioned\" could not be loaded; still serving generation 2",
	    at);
	at = h_wait_log(logpath, "tick versioned 2.0.0", at);

	/* A broken configuration: the same. */
	h_plugin(plugdir, "versioned-1", "versioned");
	free(h_write(dir, "kefud.conf",
	    "state_dir = \"state\";\nplugin_dir = \"plugins\";\nplugins = [\"versioned\"];\nlog_level = ;\n"));
	cr_assert(kill(pid, SIGHUP) == 0);
	at = h_wait_log(logpath, ":4: syntax error", at);
	at = h_wait_log(logpath, "reload failed: ", at);
	at = h_wait_log(logpath, "still serving generation 2", at);
	at = h_wait_log(logpath, "tick versioned 2.0.0", at);

	/* Fixed again: generation 3 (failed attempts use no number). */
	free(config("\"versioned\"", "versioned = { reply = \"hi\"; };\n"));
	cr_assert(kill(pid, SIGHUP) == 0);
	at = h_wait_log(logpath, "reload ok: generation 2 -> 3", at);
	at = h_wait_log(logpath, "tick versioned 1.0.0", at);

	/* A burst of signals: each reload is whole, none is lost mid-way. */
	for (int i = 0; i < 5; i++)
		cr_assert(kill(pid, SIGHUP) == 0);
	at = h_wait_log(logpath, "tick versioned 1.0.0", at);

	cr_assert(kill(pid, SIGTERM) == 0);
	cr_expect_eq(h_wait_exit(pid), 0);
	out = h_read(logpath);
	tail = strstr(out, "stopping");
	cr_expect_not_null(tail, "%s", out);
	cr_expect_not_null(strstr(out, "<6>stopped"), "%s", out);
	cr_expect_null(strstr(out, "ERROR: AddressSanitizer"), "%s", out);
	free(out);
	free(so);
	free(conf);
	free(plugdir);
}

Test(daemon, sigint_stops_gracefully)
{
	char *conf;
	pid_t pid = start_bare(&conf);

	cr_assert(kill(pid, SIGINT) == 0);
	cr_expect_eq(h_wait_exit(pid), 0);
	free(conf);
}

/* -t lists every configured text the style guard would change. */
Test(daemon, check_mode_lists_texts_the_guard_would_change)
{
	char *plugdir = h_path(dir, "plugins"), *conf, *out;
	char *argv[] = {kefud, "-t", "-c", NULL, NULL};

	cr_assert(mkdir(plugdir, 0755) == 0);
	conf = config("",
	    "guard = { profiles = ( { name = \"default\"; forbidden = [\"不知道\"];\n"
	    "  fallback = \"请您稍等。\"; } ); };\n"
	    "conversations = {\n"
	    "  close_text = \"不知道您还有什么问题\";\n"
	    "};\n");
	argv[3] = conf;
	cr_expect_eq(run(argv), 0);
	out = h_read(logpath);
	cr_expect_not_null(
	    strstr(out,
	        ":8: conversations.close_text: holds forbidden \"不知道\""),
	    "%s", out);
	free(out);
	free(conf);
	free(plugdir);
}

/* The replay tool: the daemon's decisions, one JSON line per message. */
Test(daemon, replay_prints_each_decision)
{
	char *plugdir = h_path(dir, "plugins"), *conf, *in, *out, *line,
	     *save = NULL;
	char *argv[] = {kefud, "-c", NULL, "--replay", NULL, NULL};
	cJSON *j[8];
	int n = 0, i;

	cr_assert(mkdir(plugdir, 0755) == 0);
	h_plugin(plugdir, "good", "good");
	conf = config("\"good\"",
	    "good = { reply = \"保证有货\"; handoff = \"转人工\"; };\n"
	    "guard = { profiles = ( { name = \"default\"; absolute = [\"保证\"];\n"
	    "  substitutions = ( { from = \"保证\"; to = \"应该\"; } ); fallback = \"请稍等。\"; } ); };\n");
	in = h_write(dir, "in.txt",
	    "有货吗\n{\"conversation\": \"c-2\", \"text\": \"我要转人工\"}\n{not json\n\n{\"conversation\": \"c-2\", \"text\": \"在吗\"}\n");
	argv[2] = conf;
	argv[4] = in;
	cr_expect_eq(run(argv), 1, "a bad line must show in the exit code");
	out = h_read(logpath);
	for (line = strtok_r(out, "\n", &save); line != NULL && n < 8;
	     line = strtok_r(NULL, "\n", &save))
		if (line[0] == '{')
			j[n++] = cJSON_Parse(line);
	cr_assert_eq(n, 3, "three decisions expected");
	cr_expect_str_eq(cJSON_GetObjectItem(j[0], "action")->valuestring,
	    "reply");
	cr_expect_str_eq(cJSON_GetObjectItem(j[0], "plugin")->valuestring,
	    "good");
	cr_expect_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(j[0],
	                                        "replies"),
	                     0)
	                     ->valuestring,
	    "应该有货 (good 1.0.0)");
	cr_expect_str_eq(cJSON_GetObjectItem(j[1], "conversation")->valuestring,
	    "c-2");
	cr_expect_str_eq(cJSON_GetObjectItem(j[1], "action")->valuestring,
	    "handoff");
	cr_expect_str_eq(cJSON_GetObjectItem(j[1], "reason")->valuestring,
	    "human_request");
	cr_expect_str_eq(cJSON_GetObjectItem(j[1], "owner")->valuestring,
	    "waiting");
	/* The bot stays silent while the customer waits for an agent. */
	cr_expect_str_eq(cJSON_GetObjectItem(j[2], "action")->valuestring,
	    "none");
	cr_expect_eq(cJSON_GetObjectItem(j[2], "n")->valueint, 5);
	free(out);
	out = h_read(logpath);
	cr_expect_not_null(strstr(out,
	                       "replay: line 3: expected {\"conversation\""),
	    "%s", out);
	for (i = 0; i < n; i++)
		cJSON_Delete(j[i]);
	free(out);
	free(in);
	free(conf);
	free(plugdir);
}

/* The "reconnecting in" delays of a kefud whose platform is not there. */
static void
reconnect_delays(const char *sub, int port, char *out, size_t len)
{
	char *d = h_path(dir, sub), *conf, *tok, *log, *p;
	char *argv[] = {kefud, "-c", NULL, NULL};
	size_t at = 0, n = 0;
	pid_t pid;
	int i;

	cr_assert(mkdir(d, 0755) == 0);
	tok = h_write(d, "token", "secret-%s\n", sub);
	cr_assert(chmod(tok, 0600) == 0);
	conf = h_write(d, "kefud.conf",
	    "state_dir = \"state\";\nplugin_dir = \"%s/plugins\";\nplugins = [];\n"
	    "platform = { url = \"ws://127.0.0.1:%d/bot\"; allow_plain_ws = true; token_file = \"token\"; };\n",
	    KEFU_BUILD, port);
	argv[2] = conf;
	log = h_path(d, "kefud.log");
	pid = h_spawn(argv, log);
	for (i = 0; i < 4; i++) {
		at = h_wait_log(log, "reconnecting in ", at);
		p = h_read(log);
		n += snprintf(out + n, len - n, "%.*s;",
		    (int)strcspn(p + at, "\n"), p + at);
		free(p);
	}
	kill(pid, SIGTERM);
	cr_expect_eq(h_wait_exit(pid), 0);
	h_expect_clean_log(log);
	free(log);
	free(conf);
	free(tok);
	free(d);
}

/* The reconnect back-off's jitter differs from one process to the next,
 * so the bots of many shops do not all come back at the same instant. */
Test(daemon, reconnect_jitter_differs_between_processes, .timeout = 240)
{
	char a[256], b[256];
	int port = h_free_port();

	reconnect_delays("one", port, a, sizeof(a));
	reconnect_delays("two", port, b, sizeof(b));
	cr_expect_str_neq(a, b, "the same delays in both: %s", a);
}

/* No core dump, whoever starts it: libwebsockets keeps a copy of the
 * token that kefud cannot wipe (L11). */
Test(daemon, no_core_dumps_outside_systemd_either)
{
	char *conf, path[64], *limits;
	pid_t pid = start_bare(&conf);

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	limits = h_read(path);
	cr_expect(strstr(limits,
	              "Max core file size        0                    0") !=
	        NULL,
	    "%s", limits);
	free(limits);
	kill(pid, SIGTERM);
	cr_expect_eq(h_wait_exit(pid), 0);
	free(conf);
}

Test(daemon, help_goes_to_stdout_and_succeeds)
{
	char *cmd, buf[256] = "";
	FILE *p;

	cr_assert(asprintf(&cmd, "%s --help 2>/dev/null", kefud) > 0);
	cr_assert_not_null(p = popen(cmd, "r"));
	cr_expect_not_null(fgets(buf, sizeof(buf), p));
	cr_expect_eq(pclose(p), 0);
	cr_expect_eq(strncmp(buf, "usage: kefud", 12), 0, "stdout: %s", buf);
	free(cmd);
	cr_assert(asprintf(&cmd, "%s --bogus 2>/dev/null", kefud) > 0);
	cr_assert_not_null(p = popen(cmd, "r"));
	cr_expect_null(fgets(buf, sizeof(buf), p), "a usage error on stdout");
	cr_expect_eq(WEXITSTATUS(pclose(p)), 2);
	free(cmd);
}

/*
 * What an admin runs on a server: the shipped configuration as installed
 * (the shop's files in one directory, the language layer and holidays in
 * the vendor data directory), as root, by hand, so no systemd credential.
 * kefud -t checks all but the token, and says so; --replay never needs it.
 */
Test(daemon, check_and_replay_work_by_hand_without_the_token)
{
	static const char *const mine[] = {"kefud.conf", "platform.conf",
	    "faq.conf", "synonyms.conf", "escalate.conf", NULL};
	char *etc = h_path(dir, "etc"), *src, *dst, *conf, *in, *out, *tok;
	char *argv[] = {kefud, "-t", "-c", NULL, NULL, NULL};
	FILE *fp;
	int i;

	unsetenv("CREDENTIALS_DIRECTORY");
	cr_assert(mkdir(etc, 0755) == 0);
	for (i = 0; mine[i] != NULL; i++) {
		cr_assert(
		    asprintf(&src, "%s/etc/kefu/%s", KEFU_SRC, mine[i]) > 0);
		dst = h_path(etc, mine[i]);
		h_copy(src, dst);
		free(src);
		free(dst);
	}
	conf = h_path(etc, "kefud.conf");
	cr_assert((fp = fopen(conf, "a")) != NULL);
	fprintf(fp,
	    "plugin_dir = \"%s/plugins\";\ndata_dir = \"%s/etc/kefu\";\nstate_dir = \"%s/state\";\n",
	    KEFU_BUILD, KEFU_SRC, dir);
	fclose(fp);
	argv[3] = conf;
	cr_expect_eq(run(argv), 0);
	out = h_read(logpath);
	cr_expect_not_null(strstr(out, "platform token not checked"), "%s",
	    out);
	cr_expect_not_null(strstr(out, "test is successful"), "%s", out);
	free(out);

	in = h_write(dir, "in.txt", "在吗\n几天能到\n");
	argv[1] = "-c";
	argv[2] = conf;
	argv[3] = "--replay";
	argv[4] = in;
	truncate(logpath, 0);
	cr_expect_eq(run(argv), 0);
	out = h_read(logpath);
	cr_expect_not_null(strstr(out, "\"action\":\"reply\""), "%s", out);
	cr_expect_null(strstr(out, "token"), "%s", out);
	free(out);

	/* A token file the configuration names must be there. */
	tok = h_write(etc, "platform.conf",
	    "platform = { url = \"wss://platform.example.com/bot\"; token_file = \"token\"; };\n");
	argv[1] = "-t";
	argv[2] = "-c";
	argv[3] = conf;
	argv[4] = NULL;
	truncate(logpath, 0);
	cr_expect_eq(run(argv), 78);
	out = h_read(logpath);
	cr_expect_not_null(strstr(out, "no usable platform token"), "%s", out);
	free(out);
	argv[1] = "-c";
	argv[2] = conf;
	argv[3] = "--replay";
	argv[4] = in;
	truncate(logpath, 0);
	cr_expect_eq(run(argv), 0, "replay never reads the token");
	free(tok);
	free(in);
	free(conf);
	free(etc);
}

/* One kefud per state directory; and root does not write into the
 * service user's. */
Test(daemon, a_second_kefud_on_the_same_state_refuses_to_start)
{
	char *conf, *log2 = h_path(dir, "second.log"), *out, *want, *state;
	pid_t pid = start_bare(&conf);
	char *argv[] = {kefud, "-c", conf, NULL};

	h_sleep_ms(100);
	cr_expect_eq(h_wait_exit(h_spawn(argv, log2)), 1);
	out = h_read(log2);
	cr_assert(asprintf(&want, "another kefud (pid %d) uses state_dir",
	              (int)pid) > 0);
	cr_expect_not_null(strstr(out, want), "%s", out);
	free(want);
	free(out);
	kill(pid, SIGTERM);
	cr_expect_eq(h_wait_exit(pid), 0);

	/* Gone, it leaves the directory to the next one. */
	truncate(log2, 0);
	pid = h_spawn(argv, log2);
	h_wait_log(log2, "generation 1 live", 0);
	kill(pid, SIGTERM);
	cr_expect_eq(h_wait_exit(pid), 0);

	/* A database a newer kefud wrote: not used, and not waited for. */
	{
		char *db = h_path(dir, "state/kefu.db");
		sqlite3 *h;

		cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
		cr_assert_eq(sqlite3_exec(h, "PRAGMA user_version = 9", NULL,
		                 NULL, NULL),
		    SQLITE_OK);
		sqlite3_close(h);
		truncate(log2, 0);
		cr_expect_eq(h_wait_exit(h_spawn(argv, log2)), 78);
		out = h_read(log2);
		cr_expect_not_null(strstr(out, "has schema 9, newer than"),
		    "%s", out);
		free(out);
		cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
		cr_assert_eq(sqlite3_exec(h, "PRAGMA user_version = 1", NULL,
		                 NULL, NULL),
		    SQLITE_OK);
		sqlite3_close(h);
		free(db);
	}

	if (geteuid() == 0) {
		state = h_path(dir, "state");
		cr_assert(chown(state, 65534, 65534) == 0);
		truncate(log2, 0);
		cr_expect_eq(h_wait_exit(h_spawn(argv, log2)), 1);
		out = h_read(log2);
		cr_expect_not_null(strstr(out, "belongs to uid 65534"), "%s",
		    out);
		free(out);
		free(state);
	}
	h_expect_clean_log(log2);
	free(log2);
	free(conf);
}

/* kefud -T, as nginx -T: the configuration as read, includes in place,
 * on standard output; a broken one fails as -t does. */
Test(daemon, dump_prints_the_configuration_as_read)
{
	char *plugdir = h_path(dir, "plugins"), *conf, *cmd, *out;
	FILE *p;
	size_t n;
	int st;

	cr_assert(mkdir(plugdir, 0755) == 0);
	h_plugin(plugdir, "good", "good");
	free(h_write(dir, "platform.conf",
	    "platform = { url = \"wss://platform.example.com/bot\"; };\n"));
	conf = config("\"good\"",
	    "good = { reply = \"您好\"; };\n@include \"platform.conf\"\n");
	cr_assert(asprintf(&cmd, "%s -T -c %s 2>/dev/null", kefud, conf) > 0);
	cr_assert_not_null(p = popen(cmd, "r"));
	out = calloc(1, 65536);
	n = fread(out, 1, 65535, p);
	st = pclose(p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_expect(n > 0);
	cr_expect_not_null(strstr(out,
	                       "url = \"wss://platform.example.com/bot\";"),
	    "%s", out);
	cr_expect_not_null(strstr(out, "reply = \"您好\";"), "%s", out);
	free(out);
	free(cmd);
	free(conf);
	conf = h_write(dir, "kefud.conf", "plugins = [\n");
	cr_assert(
	    asprintf(&cmd, "%s -T -c %s >/dev/null 2>&1", kefud, conf) > 0);
	st = system(cmd);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 78);
	free(cmd);
	free(conf);
	free(plugdir);
}
