/* The plugin loader and the chain, with real dlopen of real .so files. */
#include "../harness.h"

#include "conv.h"
#include "gen.h"
#include "host.h"
#include "plugin.h"
#include "turn.h"

#define STR(x) #x
#define XSTR(x) STR(x)

static char *dir;

static void
setup(void)
{
	h_log_capture();
	dir = h_tmpdir();
}

static void
teardown(void)
{
	log_set_hook(NULL);
	conv_free_all();
	h_rmrf(dir);
	free(dir);
}

TestSuite(plugin, .init = setup, .fini = teardown);

static const char *
logged(const char *needle)
{
	return strstr(h_log(), needle);
}

Test(plugin, good_plugin_loads_and_initialises)
{
	struct plugin p;

	h_plugin(dir, "good", "good");
	cr_assert_eq(plugin_open(&p, dir, "good"), 0, "%s", h_log());
	cr_expect_str_eq(p.desc->name, "good");
	cr_expect_str_eq(p.desc->version, "1.0.0");
	/* No section: the plugin reports its missing key and fails. */
	cr_expect_eq(plugin_init(&p, NULL), -1);
	cr_expect_not_null(logged("good: reply: missing required key"), "%s",
	    h_log());
	plugin_close(&p);
}

/* Each file is refused before any of its functions runs, and the log
 * names the file and the reason. */
static const struct refusal {
	const char *built; /* test plugin, or NULL for a file of junk */
	const char *as;
	const char *logged;
} refusals[] = {
    {"badabi", "badabi",
        "badabi.so: refused: plugin ABI 99." XSTR(
            KEFU_ABI_MINOR) ", kefud supports 1.0 to 1." XSTR(KEFU_ABI_MINOR)},
    {"nodesc", "nodesc", "nodesc.so: refused: no descriptor \"kefu_plugin\""},
    {"good", "other",
        "other.so: refused: descriptor names plugin \"good\", expected \"other\""},
    {NULL, "junk", "junk.so: refused: "},
};

Test(plugin, bad_files_are_refused)
{
	const struct refusal *r;
	struct plugin p;

	for (r = refusals; r < refusals + sizeof(refusals) / sizeof(*r); r++) {
		if (r->built != NULL)
			h_plugin(dir, r->built, r->as);
		else
			free(h_write(dir, "junk.so", "not an ELF file\n"));
		cr_expect_eq(plugin_open(&p, dir, r->as), -1, "%s loaded",
		    r->as);
		cr_expect_not_null(logged(r->logged), "no \"%s\" in:\n%s",
		    r->logged, h_log());
	}
}

Test(plugin, world_writable_plugin_is_refused)
{
	struct plugin p;
	char *so = h_path(dir, "good.so");

	h_plugin(dir, "good", "good");
	cr_assert(chmod(so, 0666) == 0);
	cr_expect_eq(plugin_open(&p, dir, "good"), -1);
	cr_expect_not_null(
	    logged("good.so: refused: writable by others (mode 0666)"), "%s",
	    h_log());
	free(so);
}

/* Writable by the service's own group, the one ops join for kefuctl:
 * refused too, or whoever may reload could plant code. */
Test(plugin, plugin_writable_by_the_service_group_is_refused)
{
	struct plugin p;
	char *so = h_path(dir, "good.so");

	if (geteuid() != 0)
		cr_skip_test("needs root to act as another group");
	h_plugin(dir, "good", "good");
	cr_assert(chown(so, 0, 65534) == 0 && chmod(so, 0664) == 0);
	cr_assert(setegid(65534) == 0); /* as kefud running as group 65534 */
	cr_expect_eq(plugin_open(&p, dir, "good"), -1);
	cr_assert(setegid(0) == 0);
	cr_expect_not_null(
	    logged("good.so: refused: writable by others (mode 0664)"), "%s",
	    h_log());
	free(so);
}

/* The directory counts too: anybody could swap the file in it. */
Test(plugin, plugin_in_a_world_writable_directory_is_refused)
{
	struct plugin p;

	h_plugin(dir, "good", "good");
	cr_assert(chmod(dir, 0777) == 0);
	cr_expect_eq(plugin_open(&p, dir, "good"), -1);
	cr_expect_not_null(logged(": refused: writable by others (mode 0777)"),
	    "%s", h_log());
	cr_assert(chmod(dir, 0700) == 0);
}

/* A configuration listing plugins, each replying with its name. */
static struct gen *
build(const char *plugins, const char *sections)
{
	char why[512], *conf;
	struct gen *g;

	conf = h_write(dir, "kefud.conf",
	    "plugin_dir = \".\";\nplugins = [%s];\n%s", plugins, sections);
	g = gen_build(conf, 1, GEN_TOKEN_LOAD, why, sizeof(why));
	free(conf);
	return g;
}

Test(plugin, init_failure_is_refused_with_the_file)
{
	char why[512], *conf;

	h_plugin(dir, "initfail", "initfail");
	conf = h_write(dir, "kefud.conf",
	    "plugin_dir = \".\";\nplugins = [\"initfail\"];\n");
	cr_expect_null(gen_build(conf, 1, GEN_TOKEN_LOAD, why, sizeof(why)));
	cr_expect_not_null(logged("initfail: init failing on purpose"), "%s",
	    h_log());
	cr_expect_not_null(
	    logged(
	        "initfail.so: refused: plugin initfail 1.0.0 failed to initialise"),
	    "%s", h_log());
	cr_expect_str_eq(why, "plugin \"initfail\" refused its configuration");
	free(conf);
}

static void
message(struct kefu_event *ev, const char *conv, const char *text)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = KEFU_EV_MESSAGE;
	ev->conversation = conv;
	ev->text = text;
}

Test(plugin, chain_runs_in_order_and_stop_ends_it)
{
	struct kefu_event ev;
	struct kefu_turn t;
	struct gen *g;

	h_plugin(dir, "good", "good");
	h_plugin(dir, "second", "second");
	g = build("\"good\", \"second\"",
	    "good = { reply = \"one\"; };\nsecond = { reply = \"two\"; };\n");
	cr_assert_not_null(g, "%s", h_log());
	message(&ev, "c-1", "hi");
	turn_begin(&t, conv_get("c-1", 1), &ev);
	gen_dispatch(g, &t, &ev);
	cr_assert_eq(t.nact, 2);
	cr_expect_str_eq(t.act[0].text, "one (good 1.0.0)");
	cr_expect_str_eq(t.act[0].plugin, "good");
	cr_expect_str_eq(t.act[1].text, "two (second 1.0.0)");
	/* The second plugin saw what the first one noted. */
	cr_expect_str_eq(turn_note_get(&t, "seen"), "good,second");
	turn_end(&t);
	gen_free(g);

	g = build("\"good\", \"second\"",
	    "good = { reply = \"one\"; stop = true; };\n"
	    "second = { reply = \"two\"; };\n");
	cr_assert_not_null(g, "%s", h_log());
	turn_begin(&t, conv_get("c-1", 1), &ev);
	gen_dispatch(g, &t, &ev);
	cr_expect_eq(t.nact, 1);
	cr_expect_eq(turn_outcome(&t), KEFU_OUTCOME_REPLY);
	cr_expect_str_eq(turn_note_get(&t, "seen"), "good");
	turn_end(&t);
	gen_free(g);
}

/*
 * The trap of dlopen(): a .so rebuilt at the same path must really be the
 * new code, even while the old one is still loaded.
 */
Test(plugin, rebuilt_file_at_same_path_is_new_code)
{
	struct plugin a, b;

	h_plugin(dir, "versioned-1", "versioned");
	cr_assert_eq(plugin_open(&a, dir, "versioned"), 0, "%s", h_log());
	h_plugin(dir, "versioned-2", "versioned");
	cr_assert_eq(plugin_open(&b, dir, "versioned"), 0, "%s", h_log());
	cr_expect_str_eq(a.desc->version, "1.0.0");
	cr_expect_str_eq(b.desc->version, "2.0.0");
	plugin_close(&a);
	plugin_close(&b);
}

/* Conversation state lives in the core: a new generation still sees it. */
Test(plugin, storage_survives_a_new_generation)
{
	char *src = h_build("plugins/hello.so"), *dst = h_path(dir, "hello.so");
	const char *sect = "hello = { text = \"欢迎\"; };\n";
	struct kefu_event ev;
	struct kefu_turn t;
	struct gen *g;

	h_copy(src, dst);
	g = build("\"hello\"", sect);
	cr_assert_not_null(g, "%s", h_log());
	message(&ev, "c-7", "在吗");
	turn_begin(&t, conv_get("c-7", 1), &ev);
	gen_dispatch(g, &t, &ev);
	cr_assert_eq(t.nact, 1);
	cr_expect_str_eq(t.act[0].text, "欢迎");
	turn_end(&t);
	gen_free(g);

	g = build("\"hello\"", sect);
	cr_assert_not_null(g, "%s", h_log());
	turn_begin(&t, conv_get("c-7", 1), &ev);
	gen_dispatch(g, &t, &ev);
	cr_expect_eq(t.nact, 0, "greeted twice");
	turn_end(&t);
	gen_free(g);
	free(src);
	free(dst);
}

Test(plugin, reply_must_fit_the_platform)
{
	struct kefu_event ev;
	struct kefu_turn t;
	char big[7000];

	message(&ev, "c-2", "x");
	turn_begin(&t, conv_get("c-2", 1), &ev);
	cr_expect_eq(turn_reply(&t, ""), -1);
	cr_expect_eq(turn_reply(&t, "\xff\xfe"), -1);
	memset(big, 'a', 2001);
	big[2001] = '\0';
	cr_expect_eq(turn_reply(&t, big), -1);
	big[2000] = '\0';
	cr_expect_eq(turn_reply(&t, big), 0);
	/* 2,000 Chinese characters are 6,000 bytes and still one message. */
	big[0] = '\0';
	for (int i = 0; i < 2000; i++)
		strcat(big, "好");
	cr_expect_eq(turn_reply(&t, big), 0);
	cr_expect_eq(t.nact, 2);
	turn_end(&t);
}

/* Every service in the table is there: a NULL would crash a plugin. */
Test(plugin, host_table_is_complete)
{
	const struct kefu_host *h = host_table();
	size_t off;

	cr_assert_eq(h->size, sizeof(struct kefu_host));
	cr_expect_eq(h->abi_major, KEFU_ABI_MAJOR);
	cr_expect_eq(h->abi_minor, KEFU_ABI_MINOR);
	for (off = offsetof(struct kefu_host, log); off < h->size;
	     off += sizeof(void (*)(void))) {
		void (*fn)(void);

		memcpy(&fn, (const char *)h + off, sizeof(fn));
		cr_expect_not_null((void *)(uintptr_t)fn,
		    "host function at offset %zu is NULL", off);
	}
}
