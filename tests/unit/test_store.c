/*
 * The store, with a real database file: what survives a restart, and what
 * happens when the disk fills up (a VFS shim fails writes on demand) or
 * is slow (the shim holds fsync until the test lets it go).
 */
#include "../harness.h"

#include <pthread.h>
#include <sqlite3.h>

#include "clock.h"
#include "conv.h"
#include "event.h"
#include "loop.h"
#include "outbox.h"
#include "store.h"

/* -- a VFS whose writes fail with SQLITE_FULL while disk_full is set ----- */

static int disk_full;
static sqlite3_vfs shim_vfs, *real_vfs;
static sqlite3_io_methods shim_io;

struct shim_file {
	sqlite3_file base;
	sqlite3_file *real; /* follows this struct */
};

#define REAL(f) (((struct shim_file *)(f))->real)

static int
shim_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}
static int
shim_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
	return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int
shim_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
	return disk_full ? SQLITE_FULL
	                 : REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int
shim_truncate(sqlite3_file *f, sqlite3_int64 n)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), n);
}
/* While the gate is closed, fsync waits (on the writer thread). */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_closed, gate_waited;

static void
gate_set(int closed)
{
	pthread_mutex_lock(&gate_mu);
	gate_closed = closed;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

static int
shim_sync(sqlite3_file *f, int fl)
{
	if (disk_full)
		return SQLITE_FULL;
	pthread_mutex_lock(&gate_mu);
	while (gate_closed) {
		gate_waited = 1;
		pthread_cond_wait(&gate_cv, &gate_mu);
	}
	pthread_mutex_unlock(&gate_mu);
	return REAL(f)->pMethods->xSync(REAL(f), fl);
}
static int
shim_size(sqlite3_file *f, sqlite3_int64 *n)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), n);
}
static int
shim_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int
shim_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int
shim_check(sqlite3_file *f, int *r)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), r);
}
static int
shim_ctl(sqlite3_file *f, int op, void *a)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, a);
}
static int
shim_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int
shim_dev(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int
shim_shmmap(sqlite3_file *f, int i, int sz, int w, void volatile **p)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), i, sz, w, p);
}
static int
shim_shmlock(sqlite3_file *f, int o, int n, int fl)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), o, n, fl);
}
static void
shim_shmbarrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int
shim_shmunmap(sqlite3_file *f, int d)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), d);
}

static int
shim_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags,
    int *out)
{
	struct shim_file *s = (struct shim_file *)f;
	int r;

	(void)v;
	s->real = (sqlite3_file *)(s + 1);
	if ((r = real_vfs->xOpen(real_vfs, name, s->real, flags, out)) !=
	    SQLITE_OK)
		return r;
	f->pMethods = &shim_io;
	return SQLITE_OK;
}

static void
shim_install(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	shim_vfs = *real_vfs;
	shim_vfs.zName = "kefu-test-shim";
	shim_vfs.szOsFile = sizeof(struct shim_file) + real_vfs->szOsFile;
	shim_vfs.xOpen = shim_open;
	shim_io = (sqlite3_io_methods){2, shim_close, shim_read, shim_write,
	    shim_truncate, shim_sync, shim_size, shim_lock, shim_unlock,
	    shim_check, shim_ctl, shim_sector, shim_dev, shim_shmmap,
	    shim_shmlock, shim_shmbarrier, shim_shmunmap, NULL, NULL};
	cr_assert_eq(sqlite3_vfs_register(&shim_vfs, 1), SQLITE_OK);
}

/* -- tests ----------------------------------------------------------------- */

static char *dir;

static void
setup(void)
{
	h_log_capture();
	dir = h_tmpdir();
	conv_configure(20);
	disk_full = 0;
	gate_closed = gate_waited = 0;
	shim_install();
}

static void
teardown(void)
{
	store_close();
	outbox_clear();
	event_reset();
	conv_free_all();
	log_set_hook(NULL);
	h_rmrf(dir);
	free(dir);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = H_TIMEOUT_S);

static struct conv *
talk(const char *id, int lines)
{
	struct conv *c = conv_insert(id);
	char text[32];
	int i;

	c->customer_id = strdup("u-1");
	for (i = 0; i < lines; i++) {
		snprintf(text, sizeof(text), "第%d句", i);
		conv_add_line(c, i % 2 ? 'b' : 'c', text, 1000 + i);
	}
	kv_set(&c->store, "hello\x1fgreeted", "1");
	kv_set(&c->entities, "order_id", "o-7");
	kv_set(&c->intents, "bargain", "");
	return c;
}

/* A customer message through the real event path. */
static void
feed(int seq, const char *conv, const char *text)
{
	char json[512], why[256];
	struct frame f;

	snprintf(json, sizeof(json),
	    "{\"op\":\"event\",\"seq\":%d,\"type\":\"message\",\"conversation\":\"%s\",\"customer\":{\"id\":\"u-1\"},\"message\":{\"id\":\"m-%d\",\"text\":\"%s\"}}",
	    seq, conv, seq, text);
	cr_assert_eq(frame_parse(json, strlen(json), &f, why, sizeof(why)), 0,
	    "%s", why);
	event_handle(&f.ev, f.ev_type);
	frame_free(&f);
}

static void
restart(void)
{
	store_close();
	outbox_clear();
	event_reset();
	conv_free_all();
	cr_assert_eq(store_open(dir, 0), 0, "%s", h_log());
}

Test(store, restart_restores_owners_transcripts_seq_and_outbox)
{
	struct conv *c;

	cr_assert_eq(store_open(dir, 0), 0, "%s", h_log());
	c = talk("c-1", 25);
	conv_handoff(c, 4242);
	c->owner = CONV_AGENT;
	talk("c-2", 2)->owner = CONV_CLOSED;
	event_restore(7);
	outbox_add("r:m-9:0", 7, strdup("{\"op\":\"send\"}"));
	cr_assert_eq(store_flush(), 0, "%s", h_log());
	restart();
	cr_expect_eq(event_handled(), 7);
	cr_expect_eq(event_acked(), 7);
	cr_expect_eq(outbox_pending(), 1);
	c = conv_get("c-1", 0);
	cr_assert_not_null(c, "an open conversation was not restored");
	cr_expect_eq(c->owner, CONV_AGENT, "the agent lost the conversation");
	cr_expect_eq(c->lines, 25);
	cr_expect_eq(c->hist_len, 20);
	cr_expect_str_eq(conv_line(c, 0)->text, "第5句");
	cr_expect_eq(conv_line(c, 19)->ts, 1024);
	cr_expect_str_eq(kv_get(&c->store, "hello\x1fgreeted"), "1");
	cr_expect_str_eq(kv_get(&c->entities, "order_id"), "o-7");
	cr_expect_not_null(kv_get(&c->intents, "bargain"));
	/* Closed ones stay on disk, loaded when they are needed. */
	cr_expect_null(conv_get("c-2", 0));
	c = store_load_conv("c-2");
	cr_assert_not_null(c);
	cr_expect_eq(c->owner, CONV_CLOSED);
	cr_expect_eq(c->hist_len, 2);
}

Test(store, disk_full_keeps_serving_and_recovers)
{
	struct conv *c;

	cr_assert_eq(store_open(dir, 0), 0, "%s", h_log());
	talk("c-1", 1);
	event_restore(1);
	cr_assert_eq(store_flush(), 0);
	disk_full = 1;
	c = talk("c-3", 3);
	outbox_add("r:m-3:0", 2, strdup("{\"op\":\"send\"}"));
	feed(2, "c-3", "有货吗");
	cr_expect_eq(store_flush(), -1);
	cr_expect_not_null(strstr(h_log(), "store: cannot write"), "%s",
	    h_log());
	cr_expect_not_null(
	    strstr(h_log(), "serving from memory, acknowledging nothing new"),
	    "%s", h_log());
	cr_expect(!store_ok());
	cr_expect_eq(event_durable_seq(), 1,
	    "what is not durable must not be acknowledged");
	/* Still serving: the conversation is in memory, changes go on. */
	conv_add_line(c, 'b', "还在", 5000);
	cr_expect_eq(store_flush(), -1);
	disk_full = 0;
	cr_expect_eq(store_flush(), 0, "%s", h_log());
	cr_expect(store_ok());
	cr_expect_eq(event_durable_seq(), 2);
	cr_expect_not_null(strstr(h_log(), "store: writing"), "%s", h_log());
	cr_expect_not_null(strstr(h_log(), "again after 2 failed attempts"),
	    "%s", h_log());
	restart();
	/* Bot-owned and quiet: it loads on demand. */
	cr_expect_null(conv_get("c-3", 0));
	c = store_load_conv("c-3");
	cr_assert_not_null(c, "written after recovery");
	cr_expect_eq(c->lines, 5);
	cr_expect_str_eq(conv_line(c, 3)->text, "有货吗");
	cr_expect_str_eq(conv_line(c, 4)->text, "还在");
	cr_expect_eq(outbox_pending(), 1);
}

Test(store, corrupt_file_is_reported_and_moved_aside_only_when_allowed)
{
	char *db = h_path(dir, "kefu.db"), *want;
	char junk[8192];

	memset(junk, 'x', sizeof(junk));
	free(h_write(dir, "kefu.db", "%.*s", (int)sizeof(junk) - 1, junk));
	cr_expect_eq(store_open(dir, 0), -1);
	cr_assert(
	    asprintf(&want,
	        "store: %s is corrupt; kefud waits for it to serve and acknowledge anything",
	        db) > 0);
	cr_expect_not_null(strstr(h_log(), want), "%s", h_log());
	cr_expect(access(db, F_OK) == 0, "moved without permission");
	store_close();
	cr_expect_eq(store_open(dir, 1), 0, "%s", h_log());
	cr_expect_not_null(strstr(h_log(), "was corrupt; moved aside to"), "%s",
	    h_log());
	cr_expect(store_ok());
	free(want);
	free(db);
}

/* The schema's version is kept in the file; one a newer kefud wrote is
 * left alone, with the way back named. */
Test(store, a_database_from_a_newer_kefud_is_not_touched)
{
	char *db = h_path(dir, "kefu.db");
	sqlite3 *h;
	sqlite3_stmt *st;

	cr_assert_eq(store_open(dir, 0), 0, "%s", h_log());
	store_close();
	cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st,
	                 NULL),
	    SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_eq(sqlite3_column_int(st, 0), 1, "the schema's version");
	sqlite3_finalize(st);
	cr_assert_eq(sqlite3_exec(h, "PRAGMA user_version = 7", NULL, NULL,
	                 NULL),
	    SQLITE_OK);
	sqlite3_close(h);
	cr_expect_eq(store_open(dir, 0), -2, "not a wait: kefud stops");
	cr_expect_not_null(
	    strstr(h_log(),
	        "has schema 7, newer than this kefud's 1: it was "
	        "written by a newer kefu"),
	    "%s", h_log());
	cr_expect(!store_ok());
	store_close();
	free(db);
}

/* A failed write with no outbox changes in it, then an action queued:
 * the action is written with the next batch. */
Test(store, an_action_queued_after_a_failed_write_is_kept)
{
	cr_assert_eq(store_open(dir, 0), 0, "%s", h_log());
	event_restore(1);
	disk_full = 1;
	talk("c-5", 2);
	cr_expect_eq(store_flush(), -1);
	disk_full = 0;
	store_outbox_put("r:m-5:0", 1, "{\"op\":\"send\"}");
	cr_expect_eq(store_flush(), 0, "%s", h_log());
	restart();
	cr_expect_eq(outbox_pending(), 1, "the action was lost");
	cr_expect_not_null(store_load_conv("c-5"));
}

/* Another process holds the database: like a full disk, kefud waits it
 * out without acknowledging and catches up. */
Test(store, locked_database_keeps_serving_and_recovers)
{
	char *db = h_path(dir, "kefu.db");
	sqlite3 *other;

	cr_assert_eq(store_open(dir, 0), 0, "%s", h_log());
	event_restore(1);
	cr_assert_eq(sqlite3_open(db, &other), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
	    SQLITE_OK);
	feed(2, "c-1", "在吗");
	cr_expect_eq(store_flush(), -1);
	cr_expect_not_null(strstr(h_log(), "database is locked"), "%s",
	    h_log());
	cr_expect_eq(event_durable_seq(), 1);
	sqlite3_exec(other, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(other);
	cr_expect_eq(store_flush(), 0, "%s", h_log());
	cr_expect_eq(event_durable_seq(), 2);
	free(db);
}

/* An idle kefud does not write: the timers ask for a flush every second,
 * and a flush with nothing new must not touch the disk. */
Test(store, nothing_new_writes_nothing)
{
	char *wal = h_path(dir, "kefu.db-wal");
	struct stat a, b;

	cr_assert_eq(store_open(dir, 0), 0, "%s", h_log());
	talk("c-1", 2);
	event_restore(3);
	cr_assert_eq(store_flush(), 0);
	cr_assert_eq(stat(wal, &a), 0);
	cr_expect_eq(store_flush(), 0);
	cr_expect_eq(store_flush(), 0);
	cr_assert_eq(stat(wal, &b), 0);
	cr_expect_eq(a.st_size, b.st_size, "an empty flush wrote %lld bytes",
	    (long long)(b.st_size - a.st_size));
	cr_expect_eq(event_durable_seq(), 3);
	/* Something new is still written. */
	conv_add_line(conv_get("c-1", 0), 'c', "在吗", 5);
	cr_expect_eq(store_flush(), 0);
	cr_assert_eq(stat(wal, &b), 0);
	cr_expect_gt(b.st_size, a.st_size);
	free(wal);
}

/* -- with the loop: batches go to the writer thread ---------------------- */

static const struct loop_hooks hooks;
static struct loop_timer probe_t, until_t, limit_t;
static struct {
	int fired, waited, writing;
	uint64_t durable;
} probe;
static uint64_t until_seq;

/* The commit is stuck in fsync: look, then let it go. */
static void
probe_fn(void *arg)
{
	struct conv *c = conv_get("c-1", 0);

	(void)arg;
	probe.fired = 1;
	pthread_mutex_lock(&gate_mu);
	probe.waited = gate_waited;
	pthread_mutex_unlock(&gate_mu);
	probe.durable = event_durable_seq();
	probe.writing = c != NULL && c->writing;
	gate_set(0);
}

static void
until_fn(void *arg)
{
	(void)arg;
	if (event_durable_seq() >= until_seq && !disk_full)
		loop_stop(0);
	else
		loop_timer_set(&until_t, 5, until_fn, NULL);
}

static void
limit_fn(void *arg)
{
	(void)arg;
	loop_stop(1);
}

static int
run_until_durable(uint64_t seq)
{
	until_seq = seq;
	loop_timer_set(&until_t, 5, until_fn, NULL);
	loop_timer_set(&limit_t, H_TIMEOUT_S * 1000 / 2, limit_fn, NULL);
	return loop_run();
}

Test(store, a_slow_disk_does_not_hold_up_the_loop)
{
	struct conv *c;

	cr_assert_eq(loop_init(&hooks), 0);
	cr_assert_eq(store_open(dir, 0), 0, "%s", h_log());
	event_restore(1);
	gate_set(1);
	feed(2, "c-1", "在吗");
	loop_timer_set(&probe_t, 300, probe_fn, NULL);
	cr_assert_eq(run_until_durable(2), 0, "never durable: %s", h_log());
	cr_expect(probe.fired, "the loop stood still while the disk was slow");
	cr_expect(probe.waited, "the commit never reached fsync");
	cr_expect_eq(probe.durable, 1, "acknowledged before the commit");
	cr_expect(probe.writing,
	    "a conversation being written was not marked so (it could leave "
	    "memory)");
	c = conv_get("c-1", 0);
	cr_assert_not_null(c);
	cr_expect(!c->writing);
	cr_expect_eq(c->saved_lines, c->lines);
	store_close();
	loop_fini();
	restart();
	c = store_load_conv("c-1");
	cr_assert_not_null(c, "not written");
	cr_expect_str_eq(conv_line(c, 0)->text, "在吗");
	cr_expect_eq(event_durable_seq(), 2);
}

static void
disk_back(void *arg)
{
	(void)arg;
	if (strstr(h_log(), "store: cannot write") != NULL)
		disk_full = 0;
	else
		loop_timer_set(&probe_t, 5, disk_back, NULL);
}

/* A failed batch on the writer thread keeps its rows and actions, in
 * order, for the next try. */
Test(store, a_failed_batch_is_written_again_when_the_disk_is_back)
{
	struct conv *c;

	cr_assert_eq(loop_init(&hooks), 0);
	cr_assert_eq(store_open(dir, 0), 0, "%s", h_log());
	event_restore(1);
	disk_full = 1;
	feed(2, "c-3", "有货吗");
	outbox_add("r:m-2:0", 2, strdup("{\"op\":\"send\"}"));
	store_outbox_put("r:m-2:0", 2, "{\"op\":\"send\"}");
	store_outbox_del("r:m-2:0");
	store_outbox_put("r:m-2:1", 2, "{\"op\":\"send\",\"n\":1}");
	loop_timer_set(&probe_t, 5, disk_back, NULL);
	cr_assert_eq(run_until_durable(2), 0, "never durable: %s", h_log());
	cr_expect_not_null(strstr(h_log(), "again after 1 failed attempts"),
	    "%s", h_log());
	store_close();
	loop_fini();
	outbox_clear();
	restart();
	c = store_load_conv("c-3");
	cr_assert_not_null(c, "lost with the failed batch");
	cr_expect_str_eq(conv_line(c, 0)->text, "有货吗");
	/* The put, its delete, then another put: only the last is left. */
	cr_expect_eq(outbox_pending(), 1);
}

/*
 * Retention (L13): conversations idle past keep_days, with nothing
 * waiting on them, leave the database with their transcripts; one a
 * customer still waits in, or with a follow-up due, stays, and so do the
 * recent ones.
 */
Test(store, idle_conversations_are_deleted_after_keep_days)
{
	const int64_t day = 86400000, now = (int64_t)1800000000 * 1000;
	struct conv *c;

	clock_set_wall(now);
	cr_assert_eq(store_open(dir, 0), 0, "%s", h_log());
	c = talk("old", 3);
	c->last_ms = now - 100 * day;
	c = talk("old-closed", 3);
	c->last_ms = now - 100 * day;
	c->owner = CONV_CLOSED;
	c = talk("old-waiting", 3);
	c->last_ms = now - 100 * day;
	conv_handoff(c, now - 100 * day);
	c->last_ms = now - 100 * day;
	c = talk("old-asked", 3);
	c->last_ms = now - 100 * day;
	c->asked_ms = now - 100 * day;
	c = talk("recent", 3);
	c->last_ms = now - 10 * day;
	cr_assert_eq(store_flush(), 0, "%s", h_log());
	conv_free_all();

	store_conversations_keep(90);
	cr_assert_eq(store_flush(), 0, "%s", h_log());
	cr_expect_null(store_load_conv("old"));
	cr_expect_null(store_load_conv("old-closed"));
	cr_expect_not_null(store_load_conv("old-waiting"));
	cr_expect_not_null(store_load_conv("old-asked"));
	cr_assert_not_null(c = store_load_conv("recent"));
	cr_expect_str_eq(conv_line(c, 2)->text, "第2句");
	cr_expect_not_null(
	    strstr(h_log(), "store: 2 conversations idle over 90 days deleted"),
	    "%s", h_log());
	store_conversations_keep(0);
}

static void
count_one(void *arg, int64_t ts, const char *conv, const char *text,
    const char *candidates)
{
	(void)ts;
	(void)conv;
	(void)text;
	(void)candidates;
	(*(int *)arg)++;
}

/* The unanswered list has its own limits: at most unanswered_max
 * questions, none older than unanswered_keep_days, the oldest going
 * first; conversations are not touched by them. */
Test(store, the_unanswered_list_keeps_its_own_limits)
{
	const int64_t day = 86400000, now = (int64_t)1800000000 * 1000;
	char text[32];
	int i, n = 0;

	clock_set_wall(now);
	cr_assert_eq(store_open(dir, 0), 0, "%s", h_log());
	store_questions_keep(30, 100);
	store_question("c-old", "去年的问题", NULL, now - 40 * day);
	for (i = 0; i < 150; i++) {
		snprintf(text, sizeof(text), "问题%d", i);
		store_question("c-1", text, NULL, now - i);
	}
	talk("c-1", 2);
	cr_assert_eq(store_flush(), 0, "%s", h_log());
	cr_expect_eq(store_questions(0, count_one, &n), 100);
	cr_expect_eq(n, 100, "at most unanswered_max");
	n = 0;
	cr_expect_eq(store_questions(now - 31 * day, count_one, &n), 100);
	cr_expect_not_null(store_load_conv("c-1"), "a conversation stays");
	store_questions_keep(90, 10000);
}
