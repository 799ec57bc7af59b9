/*
 * The store: SQLite in WAL mode, one transaction per loop turn.  Nothing is
 * acknowledged to the platform before the transaction holding its effects
 * is committed (event_durable()).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "clock.h"
#include "event.h"
#include "log.h"
#include "loop.h"
#include "outbox.h"
#include "store.h"
#include "xmalloc.h"

/*
 * Changes are gathered this long into one transaction: under load one
 * commit (and one fsync) covers many events.  Their acks wait for it.
 */
#define STORE_BATCH_MS 25
#define STORE_RETRY_MIN_MS 1000
#define STORE_RETRY_MAX_MS 30000

static const char store_schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER);"
    "CREATE TABLE IF NOT EXISTS conv(id TEXT PRIMARY KEY, owner INTEGER,"
    " customer_id TEXT, customer_name TEXT, vip INTEGER, product TEXT,"
    " events INTEGER, bot_turns INTEGER, last_ms INTEGER,"
    " waiting_since INTEGER, wait_due INTEGER, wait_updates INTEGER,"
    " asked_ms INTEGER, followups INTEGER, lines INTEGER, store TEXT,"
    " entities TEXT, intents TEXT);"
    "CREATE TABLE IF NOT EXISTS line(conv TEXT, n INTEGER, ts INTEGER,"
    " who TEXT, text TEXT, PRIMARY KEY(conv, n)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS outbox(id TEXT PRIMARY KEY, seq INTEGER,"
    " frame TEXT);";

struct store_op {
	char *id; /* put when frame != NULL, else delete */
	uint64_t seq;
	char *frame;
	struct store_op *next;
};

static struct {
	char *dir, *path;
	int move_corrupt;
	sqlite3 *db;
	int restored;     /* the first open restored state */
	uint64_t written; /* the seq the last commit holds */
	int failing;
	int64_t retry_ms;
	unsigned failures;
	struct log_throttle fail_log;
	struct loop_timer timer;
	int armed;
	struct store_op *ops, **ops_tail;
} S = {.ops_tail = &S.ops};

static void store_flush_cb(void *arg);

int
store_ok(void)
{
	return S.db != NULL && !S.failing;
}

static int
store_exec(const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(S.db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_warnx("store: %s: %s", S.path,
		    err != NULL ? err : sqlite3_errmsg(S.db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static sqlite3_stmt *
store_prep(const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(S.db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("store: %s: %s", S.path, sqlite3_errmsg(S.db));
		return NULL;
	}
	return st;
}

/* -- conversations <-> rows ------------------------------------------ */

static char *
store_kv_json(const struct kv *kv)
{
	cJSON *o = cJSON_CreateObject();
	char *s;
	size_t i;

	for (i = 0; i < kv->n; i++)
		cJSON_AddStringToObject(o, kv->keys[i], kv->vals[i]);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s == NULL)
		fatalx("store: out of memory");
	return s;
}

static void
store_json_kv(const unsigned char *json, struct kv *kv)
{
	cJSON *o, *m;

	if (json == NULL || (o = cJSON_Parse((const char *)json)) == NULL)
		return;
	cJSON_ArrayForEach(m, o) if (cJSON_IsString(m))
	    kv_set(kv, m->string, m->valuestring);
	cJSON_Delete(o);
}

static void
store_text(sqlite3_stmt *st, int col, const char *v)
{
	if (v != NULL)
		sqlite3_bind_text(st, col, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, col);
}

static int
store_put_conv(struct conv *c)
{
	static const char sql[] =
	    "INSERT OR REPLACE INTO conv VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *st, *ln;
	char *js[3];
	unsigned n, first;
	int i, r;

	if ((st = store_prep(sql)) == NULL)
		return -1;
	js[0] = store_kv_json(&c->store);
	js[1] = store_kv_json(&c->entities);
	js[2] = store_kv_json(&c->intents);
	store_text(st, 1, c->id);
	sqlite3_bind_int(st, 2, c->owner);
	store_text(st, 3, c->customer_id);
	store_text(st, 4, c->customer_name);
	sqlite3_bind_int(st, 5, c->vip);
	store_text(st, 6, c->product);
	sqlite3_bind_int64(st, 7, c->events);
	sqlite3_bind_int64(st, 8, c->bot_turns);
	sqlite3_bind_int64(st, 9, c->last_ms);
	sqlite3_bind_int64(st, 10, c->waiting_since);
	sqlite3_bind_int64(st, 11, c->wait_due);
	sqlite3_bind_int64(st, 12, c->wait_updates);
	sqlite3_bind_int64(st, 13, c->asked_ms);
	sqlite3_bind_int64(st, 14, c->followups);
	sqlite3_bind_int64(st, 15, c->lines);
	for (i = 0; i < 3; i++)
		store_text(st, 16 + i, js[i]);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	for (i = 0; i < 3; i++)
		free(js[i]);
	if (r != SQLITE_DONE)
		return -1;
	/* The lines added since the last write (those still in memory). */
	first = c->lines - c->hist_len;
	if (c->saved_lines > first)
		first = c->saved_lines;
	if (first >= c->lines)
		return 0;
	if ((ln = store_prep(
	         "INSERT OR REPLACE INTO line VALUES(?,?,?,?,?)")) == NULL)
		return -1;
	for (n = first; n < c->lines; n++) {
		const struct conv_line *l =
		    conv_line(c, n - (c->lines - c->hist_len));
		char who[2] = {l->from, '\0'};

		sqlite3_reset(ln);
		store_text(ln, 1, c->id);
		sqlite3_bind_int64(ln, 2, n);
		sqlite3_bind_int64(ln, 3, l->ts);
		store_text(ln, 4, who);
		store_text(ln, 5, l->text);
		if ((r = sqlite3_step(ln)) != SQLITE_DONE)
			break;
	}
	sqlite3_finalize(ln);
	return r == SQLITE_DONE ? 0 : -1;
}

static struct conv *
store_row_conv(sqlite3_stmt *st)
{
	const char *id = (const char *)sqlite3_column_text(st, 0);
	sqlite3_stmt *ln;
	struct conv *c = conv_insert(id);
	unsigned lines;

#define COLS(i) ((const char *)sqlite3_column_text(st, i))
	c->owner = sqlite3_column_int(st, 1);
	c->customer_id = xstrdup(COLS(2));
	c->customer_name = xstrdup(COLS(3));
	c->vip = sqlite3_column_int(st, 4);
	c->product = xstrdup(COLS(5));
	c->events = sqlite3_column_int64(st, 6);
	c->bot_turns = sqlite3_column_int64(st, 7);
	c->last_ms = sqlite3_column_int64(st, 8);
	c->waiting_since = sqlite3_column_int64(st, 9);
	c->wait_due = sqlite3_column_int64(st, 10);
	c->wait_updates = sqlite3_column_int64(st, 11);
	c->asked_ms = sqlite3_column_int64(st, 12);
	c->followups = sqlite3_column_int64(st, 13);
	lines = sqlite3_column_int64(st, 14);
	store_json_kv(sqlite3_column_text(st, 15), &c->store);
	store_json_kv(sqlite3_column_text(st, 16), &c->entities);
	store_json_kv(sqlite3_column_text(st, 17), &c->intents);
#undef COLS
	ln = store_prep(
	    "SELECT ts, who, text FROM (SELECT n, ts, who, text FROM line WHERE conv = ? ORDER BY n DESC LIMIT ?) ORDER BY n");
	if (ln != NULL) {
		store_text(ln, 1, id);
		sqlite3_bind_int(ln, 2, conv_history());
		while (sqlite3_step(ln) == SQLITE_ROW)
			conv_add_line(c,
			    *(const char *)sqlite3_column_text(ln, 1),
			    (const char *)sqlite3_column_text(ln, 2),
			    sqlite3_column_int64(ln, 0));
		sqlite3_finalize(ln);
	}
	c->lines = lines;
	c->saved_lines = lines;
	conv_clean(c);
	return c;
}

static const char store_conv_cols[] =
    "SELECT id, owner, customer_id, customer_name, vip, product, events,"
    " bot_turns, last_ms, waiting_since, wait_due, wait_updates, asked_ms,"
    " followups, lines, store, entities, intents FROM conv";

struct conv *
store_load_conv(const char *id)
{
	char sql[512];
	sqlite3_stmt *st;
	struct conv *c = NULL;

	if (S.db == NULL)
		return NULL;
	snprintf(sql, sizeof(sql), "%s WHERE id = ?", store_conv_cols);
	if ((st = store_prep(sql)) == NULL)
		return NULL;
	store_text(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		c = store_row_conv(st);
	sqlite3_finalize(st);
	return c;
}

/* -- opening ----------------------------------------------------------- */

static void
store_restore(void)
{
	char sql[512];
	sqlite3_stmt *st;
	unsigned n = 0, a = 0;
	uint64_t last = 0;

	if ((st = store_prep("SELECT v FROM meta WHERE k = 'last_seq'")) !=
	    NULL) {
		if (sqlite3_step(st) == SQLITE_ROW)
			last = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	event_restore(last);
	S.written = last;
	/*
	 * Those that need attention without a new event (with an agent,
	 * waiting for one, with a follow-up due, or with a handoff to ask
	 * for again when agents are back); the others load when
	 * their next event comes, so start-up stays short after months.
	 */
	snprintf(sql, sizeof(sql),
	    "%s WHERE owner IN (%d, %d) OR (owner = %d AND (asked_ms > 0 OR "
	    "waiting_since > 0))",
	    store_conv_cols, CONV_WAITING, CONV_AGENT, CONV_BOT);
	if ((st = store_prep(sql)) != NULL) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			store_row_conv(st);
			n++;
		}
		sqlite3_finalize(st);
	}
	if ((st = store_prep(
	         "SELECT id, seq, frame FROM outbox ORDER BY rowid")) != NULL) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			outbox_restore((const char *)sqlite3_column_text(st, 0),
			    sqlite3_column_int64(st, 1),
			    xstrdup((const char *)sqlite3_column_text(st, 2)));
			a++;
		}
		sqlite3_finalize(st);
	}
	log_info(
	    "store: %s: restored event %llu; conversations in memory: %u (the rest load on demand); actions to send again: %u",
	    S.path, (unsigned long long)last, n, a);
}

static void
store_touch1(struct conv *c, void *arg)
{
	(void)arg;
	conv_touch(c);
}

/* The database came back after kefud served from memory: write it all. */
static void
store_rewrite(void)
{
	conv_foreach(store_touch1, NULL);
	outbox_foreach(store_outbox_put);
}

static int
store_try_open(void)
{
	int r;

	if (mkdir(S.dir, 0700) < 0 && errno != EEXIST) {
		log_warn("store: cannot create %s", S.dir);
		return -1;
	}
	if ((r = sqlite3_open_v2(S.path, &S.db,
	         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) !=
	    SQLITE_OK) {
		log_warnx("store: cannot open %s: %s", S.path,
		    sqlite3_errstr(r));
		sqlite3_close(S.db);
		S.db = NULL;
		return -1;
	}
	if (store_exec("PRAGMA quick_check") < 0 ||
	    store_exec(store_schema) < 0) {
		r = sqlite3_errcode(S.db);
		sqlite3_close(S.db);
		S.db = NULL;
		if (r == SQLITE_CORRUPT || r == SQLITE_NOTADB) {
			char aside[PATH_MAX];

			if (!S.move_corrupt) {
				log_emit(LOG_PRI_ERR,
				    "store: %s is corrupt; kefud serves from memory and acknowledges nothing; move it aside, or set state_move_corrupt = true",
				    S.path);
				return -1;
			}
			snprintf(aside, sizeof(aside), "%s.corrupt-%lld",
			    S.path, (long long)clock_wall_ms());
			if (rename(S.path, aside) < 0) {
				log_warn("store: cannot move %s aside", S.path);
				return -1;
			}
			log_emit(LOG_PRI_ERR,
			    "store: %s was corrupt; moved aside to %s; starting a new one",
			    S.path, aside);
			return store_try_open();
		}
		return -1;
	}
	return 0;
}

int
store_open(const char *state_dir, int move_corrupt)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/kefu.db", state_dir);
	S.dir = xstrdup(state_dir);
	S.path = xstrdup(path);
	S.move_corrupt = move_corrupt;
	if (store_try_open() < 0) {
		S.failing = 1;
		S.retry_ms = STORE_RETRY_MIN_MS;
		loop_timer_set(&S.timer, S.retry_ms, store_flush_cb, NULL);
		return -1;
	}
	store_restore();
	S.restored = 1;
	return 0;
}

/* -- writing ------------------------------------------------------------ */

static void
store_op_add(const char *id, uint64_t seq, const char *frame)
{
	struct store_op *op = xcalloc(1, sizeof(*op));

	op->id = xstrdup(id);
	op->seq = seq;
	op->frame = xstrdup(frame);
	*S.ops_tail = op;
	S.ops_tail = &op->next;
	store_soon();
}

void
store_outbox_put(const char *id, uint64_t seq, const char *frame)
{
	store_op_add(id, seq, frame);
}

void
store_outbox_del(const char *id)
{
	store_op_add(id, 0, NULL);
}

static int
store_write_ops(void)
{
	sqlite3_stmt *put, *del;
	struct store_op *op;
	int r = SQLITE_DONE;

	put = store_prep("INSERT OR REPLACE INTO outbox VALUES(?,?,?)");
	del = store_prep("DELETE FROM outbox WHERE id = ?");
	for (op = S.ops;
	     op != NULL && put != NULL && del != NULL && r == SQLITE_DONE;
	     op = op->next) {
		sqlite3_stmt *st = op->frame != NULL ? put : del;

		sqlite3_reset(st);
		store_text(st, 1, op->id);
		if (op->frame != NULL) {
			sqlite3_bind_int64(st, 2, op->seq);
			store_text(st, 3, op->frame);
		}
		r = sqlite3_step(st);
	}
	sqlite3_finalize(put);
	sqlite3_finalize(del);
	return put != NULL && del != NULL && r == SQLITE_DONE ? 0 : -1;
}

static void
store_ops_clear(void)
{
	struct store_op *op, *next;

	for (op = S.ops; op != NULL; op = next) {
		next = op->next;
		free(op->id);
		free(op->frame);
		free(op);
	}
	S.ops = NULL;
	S.ops_tail = &S.ops;
}

static int
store_write(struct conv *dirty, uint64_t seq)
{
	sqlite3_stmt *st;
	struct conv *c;
	int r;

	if (store_exec("BEGIN IMMEDIATE") < 0)
		return -1;
	for (c = dirty; c != NULL; c = c->dirty_next)
		if (store_put_conv(c) < 0)
			goto fail;
	if (store_write_ops() < 0)
		goto fail;
	if ((st = store_prep(
	         "INSERT OR REPLACE INTO meta VALUES('last_seq', ?)")) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	if (r != SQLITE_DONE || store_exec("COMMIT") < 0)
		goto fail;
	return 0;
fail:
	log_debug("store: write failed: %s", sqlite3_errmsg(S.db));
	sqlite3_exec(S.db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static void
store_failed(struct conv *dirty)
{
	struct conv *c, *next;

	/* Keep everything for the next try. */
	for (c = dirty; c != NULL; c = next) {
		next = c->dirty_next;
		conv_touch(c);
	}
	S.failures++;
	if (log_throttle_pass(&S.fail_log, clock_mono_ms()))
		log_emit(LOG_PRI_ERR,
		    "store: cannot write %s: %s; serving from memory, acknowledging nothing new; retrying in %lld s",
		    S.path, S.db != NULL ? sqlite3_errmsg(S.db) : "not open",
		    (long long)S.retry_ms / 1000);
	S.failing = 1;
	loop_timer_set(&S.timer, S.retry_ms, store_flush_cb, NULL);
	S.retry_ms = S.retry_ms * 2 > STORE_RETRY_MAX_MS ? STORE_RETRY_MAX_MS
	                                                 : S.retry_ms * 2;
}

int
store_flush(void)
{
	uint64_t seq = event_handled();
	struct conv *dirty, *c;

	S.armed = 0;
	if (S.dir == NULL)
		return -1;
	if (S.db == NULL) {
		if (store_try_open() < 0) {
			store_failed(NULL);
			return -1;
		}
		if (!S.restored) {
			store_restore();
			S.restored = 1;
		} else
			store_rewrite();
	}
	dirty = conv_take_dirty();
	/* Nothing new (the timers ask every second): no transaction. */
	if (dirty == NULL && S.ops == NULL && seq == S.written && !S.failing) {
		event_durable(seq);
		return 0;
	}
	if (store_write(dirty, seq) < 0) {
		store_failed(dirty);
		return -1;
	}
	for (c = dirty; c != NULL; c = c->dirty_next)
		c->saved_lines = c->lines;
	S.written = seq;
	store_ops_clear();
	if (S.failing) {
		log_info("store: writing %s again after %u failed attempts",
		    S.path, S.failures);
		log_throttle_clear(&S.fail_log);
		S.failing = 0;
		S.failures = 0;
	}
	S.retry_ms = STORE_RETRY_MIN_MS;
	event_durable(seq);
	return 0;
}

static void
store_flush_cb(void *arg)
{
	(void)arg;
	store_flush();
}

void
store_soon(void)
{
	if (S.dir == NULL || S.failing || S.armed)
		return;
	S.armed = 1;
	loop_timer_set(&S.timer, STORE_BATCH_MS, store_flush_cb, NULL);
}

void
store_close(void)
{
	if (S.dir != NULL && !S.failing)
		store_flush();
	loop_timer_cancel(&S.timer);
	store_ops_clear();
	if (S.db != NULL)
		sqlite3_close(S.db);
	free(S.dir);
	free(S.path);
	memset(&S, 0, sizeof(S));
	S.ops_tail = &S.ops;
}
