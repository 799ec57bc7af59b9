/* Configuration: a valid file, and every kind of error, with the text ops
 * would read: file, line and key. */
#include "../harness.h"

#include "conf.h"

static char *dir, *plugdir;

static void
setup(void)
{
	h_log_capture();
	dir = h_tmpdir();
	plugdir = h_path(dir, "plugins");
	cr_assert(mkdir(plugdir, 0755) == 0);
	h_plugin(plugdir, "good", "good");
	h_plugin(plugdir, "second", "second");
}

static void
teardown(void)
{
	log_set_hook(NULL);
	h_rmrf(dir);
	free(plugdir);
	free(dir);
}

/* Loads text as kefud.conf; returns the conf or NULL. */
static struct conf *
load(const char *text, char **pathp)
{
	char *path = h_write(dir, "kefud.conf", "%s", text);
	struct conf *c;

	conf_error_reset();
	c = conf_load(path);
	if (pathp != NULL)
		*pathp = path;
	else
		free(path);
	return c;
}

/* Asserts that the log holds "<conf path><rest>". */
static void
expect(const char *path, const char *rest)
{
	char *want;

	cr_assert(asprintf(&want, "%s%s", path, rest) > 0);
	cr_expect_not_null(strstr(h_log(), want),
	    "expected \"%s\" in the log:\n%s", want, h_log());
	free(want);
}

TestSuite(conf, .init = setup, .fini = teardown);

Test(conf, valid_file_with_relative_plugin_dir)
{
	struct conf *c = load("log_level = \"debug\";\n"
	                      "plugin_dir = \"plugins\";\n"
	                      "plugins = [\"good\", \"second\"];\n"
	                      "good = { reply = \"hi\"; };\n",
	    NULL);
	char *want = h_path(dir, "plugins");

	cr_assert_not_null(c, "log:\n%s", h_log());
	cr_expect_eq(c->log_level, LOG_PRI_DEBUG);
	cr_expect_str_eq(c->plugin_dir, want);
	cr_assert_eq(c->nplugins, 2);
	cr_expect_str_eq(c->plugins[0], "good");
	cr_expect_str_eq(c->plugins[1], "second");
	cr_expect_not_null(conf_plugin_section(c, "good"));
	cr_expect_null(conf_plugin_section(c, "second"));
	cr_expect_eq(conf_error_count(), 0);
	conf_free(c);
	free(want);
}

Test(conf, defaults)
{
	struct conf *c =
	    load("plugin_dir = \"plugins\";\nplugins = [];\n", NULL);

	cr_assert_not_null(c, "log:\n%s", h_log());
	cr_expect_eq(c->log_level, LOG_PRI_INFO);
	cr_expect_eq(c->nplugins, 0);
	conf_free(c);
}

Test(conf, syntax_error_names_file_and_line)
{
	char *path;

	cr_expect_null(load("plugin_dir = \"plugins\";\n"
	                    "plugins = [\"good\"]\n"
	                    "log_level = ;\n",
	    &path));
	expect(path, ":3: syntax error: ");
	free(path);
}

Test(conf, wrong_type)
{
	char *path;

	cr_expect_null(load("plugin_dir = \"plugins\";\n"
	                    "plugins = [\"good\"];\n"
	                    "log_level = 7;\n",
	    &path));
	expect(path, ":3: log_level: expected a string, found an integer");
	free(path);
}

Test(conf, bad_value)
{
	char *path;

	cr_expect_null(load("plugin_dir = \"plugins\";\nplugins = [];\n"
	                    "log_level = \"loud\";\n",
	    &path));
	expect(path, ":3: log_level: unknown level \"loud\"");
	free(path);
}

/* A text saved as GBK, and one longer than the platform takes: refused
 * at load with file, line and key, not sent and refused later. */
Test(conf, texts_must_be_utf8_and_fit_the_platform)
{
	char *path, *text, *long_text = malloc(2001 * 3 + 1);
	int i;

	cr_expect_null(load("plugin_dir = \"plugins\";\nplugins = [];\n"
	                    "conversations = {\n"
	                    "  close_text = \"\xb8\xd0\xd0\xbb\";\n};\n",
	    &path));
	expect(path,
	    ":4: conversations.close_text: not valid UTF-8: save the "
	    "file as UTF-8 (not GBK)");
	free(path);
	for (i = 0; i < 2001; i++)
		memcpy(long_text + 3 * i, "好", 3);
	long_text[3 * 2001] = '\0';
	cr_assert(asprintf(&text,
	              "plugin_dir = \"plugins\";\nplugins = [];\n"
	              "conversations = {\n  wait_update_text = \"%s\";\n};\n",
	              long_text) > 0);
	cr_expect_null(load(text, &path));
	free(text);
	expect(path,
	    ":4: conversations.wait_update_text: 2001 characters, "
	    "over the platform's 2000 for a text");
	free(path);
	free(long_text);
}

Test(conf, missing_required_key)
{
	char *path;

	cr_expect_null(load("plugin_dir = \"plugins\";\n", &path));
	expect(path, ": plugins: missing required key");
	free(path);
}

Test(conf, unknown_plugin)
{
	char *path, *want;

	cr_expect_null(load("plugin_dir = \"plugins\";\n"
	                    "plugins = [\"good\",\n"
	                    "    \"nosuch\"];\n",
	    &path));
	cr_assert(
	    asprintf(&want,
	        ":3: plugins[1]: unknown plugin \"nosuch\": no file %s/nosuch.so",
	        plugdir) > 0);
	expect(path, want);
	free(want);
	free(path);
}

Test(conf, bad_plugin_name_and_duplicate)
{
	char *path;

	cr_expect_null(load("plugin_dir = \"plugins\";\n"
	                    "plugins = [\"../good\", \"good\", \"good\"];\n",
	    &path));
	expect(path, ":2: plugins[0]: bad plugin name \"../good\"");
	expect(path, ":2: plugins[2]: plugin \"good\" is listed twice");
	free(path);
}

Test(conf, unreadable_file)
{
	char *path = h_path(dir, "missing.conf");

	conf_error_reset();
	cr_expect_null(conf_load(path));
	expect(path, ": cannot read: No such file or directory");
	cr_expect_null(conf_load(dir));
	expect(dir, ": cannot read: not a regular file");
	free(path);
}

Test(conf, unknown_key)
{
	char *path;

	cr_expect_null(load("plugin_dir = \"plugins\";\nplugins = [];\n"
	                    "log_levle = \"info\";\n",
	    &path));
	expect(path, ":3: log_levle: unknown key");
	free(path);
}

Test(conf, plugin_section_must_be_a_group)
{
	char *path;

	cr_expect_null(load("plugin_dir = \"plugins\";\n"
	                    "plugins = [\"good\"];\n"
	                    "good = \"yes\";\n",
	    &path));
	expect(path,
	    ":3: good: a plugin's section must be a group, found a string");
	free(path);
}

Test(conf, section_of_unlisted_plugin_is_a_warning)
{
	struct conf *c = load("plugin_dir = \"plugins\";\n"
	                      "plugins = [];\n"
	                      "good = { reply = \"x\"; };\n",
	    NULL);

	cr_assert_not_null(c, "log:\n%s", h_log());
	cr_expect_not_null(
	    strstr(h_log(),
	        ":3: good: section of a plugin that is not in \"plugins\"; ignored"),
	    "%s", h_log());
	conf_free(c);
}

Test(conf, every_error_in_one_pass)
{
	char *path;

	cr_expect_null(load("plugin_dir = \"plugins\";\n"
	                    "plugins = [\"nosuch\"];\n"
	                    "log_level = 1;\n"
	                    "colour = \"red\";\n",
	    &path));
	expect(path, ":2: plugins[0]: unknown plugin");
	expect(path, ":3: log_level: expected a string");
	expect(path, ":4: colour: unknown key");
	cr_expect_eq(conf_error_count(), 3);
	free(path);
}

Test(conf, accessors_for_plugins)
{
	struct conf *c = load("plugin_dir = \"plugins\";\n"
	                      "plugins = [\"good\"];\n"
	                      "good = {\n"
	                      "  reply = \"hi\";\n"
	                      "  n = 42;\n"
	                      "  on = true;\n"
	                      "  file = \"kb/faq.conf\";\n"
	                      "  list = (\"a\", \"b\");\n"
	                      "};\n",
	    NULL);
	const config_setting_t *s;
	static const char *const known[] = {"reply", "n", "on", "file", NULL};
	const char *str;
	long long n;
	char buf[512], *want;
	int b;

	cr_assert_not_null(c, "log:\n%s", h_log());
	s = conf_plugin_section(c, "good");
	cr_expect_eq(conf_get_string(s, "reply", &str), 1);
	cr_expect_str_eq(str, "hi");
	cr_expect_eq(conf_get_int(s, "n", &n), 1);
	cr_expect_eq(n, 42);
	cr_expect_eq(conf_get_bool(s, "on", &b), 1);
	cr_expect_eq(b, 1);
	cr_expect_eq(conf_get_string(s, "absent", &str), 0);
	cr_expect_eq(conf_get_int(s, "reply", &n), -1);
	cr_expect_not_null(
	    strstr(h_log(),
	        ":4: good.reply: expected an integer, found a string"),
	    "%s", h_log());
	cr_expect_eq(conf_get_path(s, "file", buf, sizeof(buf)), 1);
	want = h_path(dir, "kb/faq.conf");
	cr_expect_str_eq(buf, want);
	cr_expect_eq(conf_length(conf_member(s, "list")), 2);
	cr_expect_eq(conf_get_string(conf_elem(conf_member(s, "list"), 1), NULL,
	                 &str),
	    1);
	cr_expect_str_eq(str, "b");
	cr_expect_eq(conf_check_keys(s, known), -1);
	cr_expect_not_null(strstr(h_log(), ":8: good.list: unknown key"), "%s",
	    h_log());
	conf_free(c);
	free(want);
}

Test(conf, separate_file_for_a_plugin)
{
	char *path = h_write(dir, "faq.conf", "faq = ( { id = \"a\"; } );\n");
	const config_setting_t *root;
	const char *id;

	conf_error_reset();
	root = conf_load_file(path);
	cr_assert_not_null(root, "log:\n%s", h_log());
	cr_expect_eq(conf_get_string(conf_elem(conf_member(root, "faq"), 0),
	                 "id", &id),
	    1);
	cr_expect_str_eq(id, "a");
	conf_free_file(root);
	free(h_write(dir, "faq.conf", "faq = ( { id = } );\n"));
	cr_expect_null(conf_load_file(path));
	expect(path, ":1: syntax error");
	free(path);
}

Test(conf, platform_group)
{
	struct conf *c =
	    load("plugin_dir = \"plugins\";\nplugins = [];\n"
	         "platform = {\n"
	         "  url = \"wss://kefu.example.com:8443/v1/bot\";\n"
	         "  ca_file = \"ca.pem\";\n"
	         "  token_file = \"token\";\n"
	         "};\n",
	        NULL);
	char *ca = h_path(dir, "ca.pem");

	cr_assert_not_null(c, "log:\n%s", h_log());
	cr_expect(c->platform.present);
	cr_expect(c->platform.tls);
	cr_expect_str_eq(c->platform.host, "kefu.example.com");
	cr_expect_eq(c->platform.port, 8443);
	cr_expect_str_eq(c->platform.path, "/v1/bot");
	cr_expect_str_eq(c->platform.ca_file, ca);
	cr_expect_eq(c->platform.actions_per_second, 15);
	conf_free(c);
	free(ca);
}

Test(conf, platform_errors)
{
	char *path;

	cr_expect_null(load("plugin_dir = \"plugins\";\nplugins = [];\n"
	                    "platform = {\n"
	                    "  url = \"ws://127.0.0.1:9/bot\";\n"
	                    "  actions_per_second = 0;\n"
	                    "  tokenfile = \"t\";\n"
	                    "};\n",
	    &path));
	expect(path,
	    ":4: platform.url: plain ws:// is only for tests: use wss://, or set platform.allow_plain_ws = true");
	expect(path,
	    ":5: platform.actions_per_second: 0 is out of range (1 to 100000)");
	expect(path, ":6: platform.tokenfile: unknown key");
	free(path);
	cr_expect_null(load("plugin_dir = \"plugins\";\nplugins = [];\n"
	                    "platform = { url = \"https://x/\"; };\n",
	    &path));
	expect(path, ":3: platform.url: \"https://x/\" is not a wss:// URL");
	free(path);
	/* More than the protocol allows, unless the platform says so. */
	cr_expect_null(load("plugin_dir = \"plugins\";\nplugins = [];\n"
	                    "platform = { url = \"wss://x/\";\n"
	                    "  actions_per_second = 20; };\n",
	    &path));
	expect(path,
	    ":4: platform.actions_per_second: over 16: with the burst "
	    "of 4, more than the protocol's 20 actions a second");
	free(path);
	path = NULL;
	struct conf *ok = load("plugin_dir = \"plugins\";\nplugins = [];\n"
	                       "platform = { url = \"wss://x/\";\n"
	                       "  actions_per_second = 20; "
	                       "faster_than_protocol = true; };\n",
	    NULL);
	cr_expect_not_null(ok);
	conf_free(ok);
	free(path);
	cr_expect_null(load("plugin_dir = \"plugins\";\nplugins = [];\n"
	                    "platform = { ca_file = \"x\"; };\n",
	    &path));
	expect(path, ":3: platform.url: missing required key");
	free(path);
	cr_expect_null(load("plugin_dir = \"plugins\";\nplugins = [];\n"
	                    "platform = \"wss://x/\";\n",
	    &path));
	expect(path, ":3: platform: expected a group, found a string");
	free(path);
}

Test(conf, plain_ws_when_asked)
{
	struct conf *c = load(
	    "plugin_dir = \"plugins\";\nplugins = [];\n"
	    "platform = { url = \"ws://127.0.0.1/bot\"; allow_plain_ws = true; };\n",
	    NULL);

	cr_assert_not_null(c, "log:\n%s", h_log());
	cr_expect_eq(c->platform.tls, 0);
	cr_expect_eq(c->platform.port, 80);
	conf_free(c);
}

/* Vendor data (the language layer, the holidays) ships in data_dir; a
 * file of the same name beside the configuration overrides it, and a
 * file in neither place is reported where the admin would put it. */
Test(conf, relative_paths_fall_back_to_the_vendor_data_directory)
{
	char buf[4096], *vendor = h_path(dir, "vendor"), *want, *path;
	const config_setting_t *s;
	struct conf *c;

	cr_assert(mkdir(vendor, 0755) == 0);
	path = h_path(dir, "vendor/lang");
	cr_assert(mkdir(path, 0755) == 0);
	free(path);
	free(h_write(vendor, "lang/words.txt", "x\n"));
	free(h_write(vendor, "holidays.conf", "x\n"));
	free(h_write(dir, "holidays.conf", "mine\n"));
	c = load(
	    "plugin_dir = \"plugins\";\nplugins = [\"good\"];\n"
	    "data_dir = \"vendor\";\n"
	    "good = { a = \"lang/words.txt\"; b = \"holidays.conf\"; c = \"none.txt\"; };\n",
	    NULL);
	cr_assert_not_null(c, "log:\n%s", h_log());
	s = conf_plugin_section(c, "good");
	cr_expect_eq(conf_get_path(s, "a", buf, sizeof(buf)), 1);
	want = h_path(dir, "vendor/lang/words.txt");
	cr_expect_str_eq(buf, want);
	free(want);
	cr_expect_eq(conf_get_path(s, "b", buf, sizeof(buf)), 1);
	want = h_path(dir, "holidays.conf");
	cr_expect_str_eq(buf, want, "the admin's copy wins");
	free(want);
	cr_expect_eq(conf_get_path(s, "c", buf, sizeof(buf)), 1);
	want = h_path(dir, "none.txt");
	cr_expect_str_eq(buf, want);
	free(want);
	conf_free(c);

	/* An absolute data_dir, as installed. */
	cr_assert(
	    asprintf(&path,
	        "plugin_dir = \"plugins\";\nplugins = [\"good\"];\n"
	        "data_dir = \"%s\";\ngood = { a = \"lang/words.txt\"; };\n",
	        vendor) > 0);
	c = load(path, NULL);
	cr_assert_not_null(c, "log:\n%s", h_log());
	cr_expect_eq(conf_get_path(conf_plugin_section(c, "good"), "a", buf,
	                 sizeof(buf)),
	    1);
	want = h_path(dir, "vendor/lang/words.txt");
	cr_expect_str_eq(buf, want);
	free(want);
	conf_free(c);
	free(path);
	free(vendor);
}

/* The 微信客服 kind: its own keys, loaded by its driver, with the same
 * file:line: key reports. */
Test(conf, wechat_kf_errors)
{
	char *path;
	struct conf *c;

	cr_expect_null(load("plugin_dir = \"plugins\";\nplugins = [];\n"
	                    "platform = {\n"
	                    "  kind = \"wechat\";\n"
	                    "};\n",
	    &path));
	expect(path, ":4: platform.kind: unknown kind \"wechat\"");
	free(path);
	cr_expect_null(load("plugin_dir = \"plugins\";\nplugins = [];\n"
	                    "platform = {\n"
	                    "  kind = \"wechat-kf\";\n"
	                    "  url = \"wss://x/\";\n"
	                    "  listen = \"nowhere\";\n"
	                    "  open_kfid = [\"wk 1\"];\n"
	                    "  routes = [\"a\"];\n"
	                    "  heartbeat = 3;\n"
	                    "};\n",
	    &path));
	expect(path, ":3: platform.corp_id: missing required key");
	expect(path, ":5: platform.url: \"wss://x/\" is not a https:// URL");
	expect(path, ":6: platform.listen: expected host:port");
	expect(path, ":7: platform.open_kfid[0]: \"wk 1\" is not an id");
	expect(path, ":8: platform.routes: expected a group");
	expect(path, ":9: platform.heartbeat: unknown key for this kind");
	free(path);
	/* The defaults: the official API, callbacks on loopback. */
	c = load("plugin_dir = \"plugins\";\nplugins = [];\n"
	         "platform = {\n"
	         "  kind = \"wechat-kf\";\n"
	         "  corp_id = \"ww1\";\n"
	         "  agent_id = 1000002;\n"
	         "  routes = { vip = [\"zhangsan\", \"lisi\"]; };\n"
	         "};\n",
	    NULL);
	cr_assert_not_null(c);
	cr_expect_str_eq(c->platform.url, "https://qyapi.weixin.qq.com");
	cr_expect_str_eq(c->platform.host, "qyapi.weixin.qq.com");
	cr_expect_eq(c->platform.port, 443);
	cr_expect_str_eq(c->platform.listen, "127.0.0.1:17462");
	cr_expect_not_null(c->platform.settings);
	conf_free(c);
}
