/*
 * The store: SQLite in WAL mode, one transaction per batch of changes.
 * Nothing is acknowledged to the platform before the transaction holding
 * its effects is committed (event_durable()).
 *
 * Two connections: the loop reads (start-up, conversations coming back to
 * memory) on its own, and a writer thread commits.  The loop copies what
 * changed into a batch (no SQL, no I/O), hands it over and goes on
 * serving, so a commit and its fsync never hold up a reply.  One batch is
 * in flight at a time; its result comes back to the loop through an
 * eventfd, and only then are its events acknowledged.  A conversation in
 * a batch stays in memory until the batch is done.  Without a loop (the
 * unit tests) batches are written in place.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sysexits.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "clock.h"
#include "event.h"
#include "log.h"
#include "loop.h"
#include "outbox.h"
#include "platform.h"
#include "store.h"
#include "xmalloc.h"

/*
 * Changes are gathered this long into one transaction: under load one
 * commit (and one fsync) covers many events.  Their acks wait for it.
 */
#define STORE_BATCH_MS 25
#define STORE_RETRY_MIN_MS 1000
#define STORE_RETRY_MAX_MS 30000
#define STORE_WRITER_NICE 10

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
    "CREATE INDEX IF NOT EXISTS conv_idle ON conv(last_ms);"
    "CREATE TABLE IF NOT EXISTS line(conv TEXT, n INTEGER, ts INTEGER,"
    " who TEXT, text TEXT, PRIMARY KEY(conv, n)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS outbox(id TEXT PRIMARY KEY, seq INTEGER,"
    " frame TEXT);"
    "CREATE TABLE IF NOT EXISTS unanswered(id INTEGER PRIMARY KEY, ts INTEGER,"
    " conv TEXT, text TEXT, candidates TEXT);";

/* An outbox change, or a question the bot could not answer. */
struct store_op {
	char *id; /* put when frame != NULL, else delete; the conversation */
	uint64_t seq; /* the time of a question */
	char *frame;  /* the question's text */
	char *candidates;
	int question;
	struct store_op *next;
};

/* A conversation as the writer writes it: copies, so the loop can go on
 * changing the conversation meanwhile. */
struct store_line {
	unsigned n;
	int64_t ts;
	char who[2];
	char *text;
};

struct store_row {
	char *id, *customer_id, *customer_name, *product;
	char *js[3]; /* store, entities, intents */
	int owner, vip;
	int64_t v[9]; /* events .. lines: columns 7 to 15 */
	struct store_line *lines;
	unsigned nlines;
};

#define STORE_V_LINES 8 /* v[]: the conversation's lines when copied */

struct store_batch {
	struct store_row *rows;
	size_t nrows;
	struct store_op *ops;
	uint64_t seq;
	int64_t questions_now; /* the wall clock, for their retention */
	int64_t prune_before;  /* conversations idle since: deleted (0: no) */
	int pruned;            /* how many were */
	int failed;
	char err[256];
	char *resume; /* the platform driver's position at seq, or NULL */
};

/* Statements prepared once per connection. */
enum { R_CONV, R_LINES, R_N };
enum {
	W_BEGIN,
	W_COMMIT,
	W_CONV,
	W_LINE,
	W_OUT_PUT,
	W_OUT_DEL,
	W_META,
	W_RESUME,
	W_Q_PUT,
	W_Q_PRUNE,
	W_CONV_PRUNE_LINES,
	W_CONV_PRUNE,
	W_N
};

#define STORE_CONV_COLS                                                         \
	"SELECT id, owner, customer_id, customer_name, vip, product, events,"   \
	" bot_turns, last_ms, waiting_since, wait_due, wait_updates, asked_ms," \
	" followups, lines, store, entities, intents FROM conv"

static const char *const store_rsql[R_N] = {
    STORE_CONV_COLS " WHERE id = ?",
    "SELECT ts, who, text FROM (SELECT n, ts, who, text FROM line WHERE"
    " conv = ? ORDER BY n DESC LIMIT ?) ORDER BY n",
};

/*
 * Conversations idle since ?1 that nothing waits on (with the bot and
 * nothing due, or closed): the oldest, a bounded batch at a time, so that
 * a transaction never holds the writer long.
 */
#define STORE_PRUNE_MAX 1000
/* PRAGMA user_version of the schema above; a change to it adds one. */
#define STORE_SCHEMA 1
#define STORE_STR1(x) #x
#define STORE_STR(x) STORE_STR1(x)
#define STORE_STALE                                                                  \
	"SELECT id FROM conv WHERE last_ms < ?1 AND owner IN (0, 3) AND"             \
	" waiting_since = 0 AND asked_ms = 0 ORDER BY last_ms, id LIMIT " STORE_STR( \
	    STORE_PRUNE_MAX)

static const char *const store_wsql[W_N] = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "INSERT OR REPLACE INTO conv VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "INSERT OR REPLACE INTO line VALUES(?,?,?,?,?)",
    "INSERT OR REPLACE INTO outbox VALUES(?,?,?)",
    "DELETE FROM outbox WHERE id = ?",
    "INSERT OR REPLACE INTO meta VALUES('last_seq', ?)",
    "INSERT OR REPLACE INTO meta VALUES('platform_resume', ?)",
    "INSERT INTO unanswered(ts, conv, text, candidates) VALUES(?,?,?,?)",
    "DELETE FROM unanswered WHERE ts < ? OR"
    " id <= (SELECT max(id) FROM unanswered) - ?",
    "DELETE FROM line WHERE conv IN (" STORE_STALE ")",
    "DELETE FROM conv WHERE id IN (" STORE_STALE ")",
};

static struct {
	char *dir, *path;
	int move_corrupt;
	sqlite3 *db; /* the loop's: reading */
	/* The writer's; the loop's only while no batch is in flight. */
	sqlite3 *wdb;
	sqlite3_stmt *rst[R_N], *wst[W_N];
	int restored; /* the first open restored state */
	void (*on_restored)(void);
	uint64_t written; /* the seq the last commit holds */
	int failing;
	int64_t retry_ms;
	unsigned failures;
	struct log_throttle fail_log;
	struct loop_timer timer;
	struct loop_timer prune_timer; /* retention while nothing else writes */
	int armed;
	int64_t keep_ms;      /* unanswered questions: kept this long ... */
	long keep_max;        /* ... and at most this many */
	int64_t conv_keep_ms; /* conversations: deleted idle this long */
	int64_t purge_before; /* kefuctl purge: idle since (wall; 0: none) */
	int64_t pruned_ms;    /* the last retention pass (monotonic) */
	int prune_more;       /* it deleted a full batch */
	int busy;             /* a batch is with the writer */
	int again;            /* changes waited for it */
	struct store_op *ops, **ops_tail;
} S = {.ops_tail = &S.ops,
    .keep_ms = (int64_t)90 * 86400000,
    .keep_max = 10000};

/*
 * The writer thread, and the eventfd it signals the loop with: one per
 * store_open(), owned by the loop once watched (it closes it when it ends).
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv, done_cv;
	pthread_t tid;
	int running, quit, efd;
	struct store_batch *job, *done;
} W = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
    PTHREAD_COND_INITIALIZER, 0, 0, 0, -1, NULL, NULL};

static void store_flush_cb(void *arg);
static void store_thread_start(void);

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

/* A cached statement of the loop's connection, reset for use. */
static sqlite3_stmt *
store_r(int i)
{
	if (S.rst[i] == NULL && (S.rst[i] = store_prep(store_rsql[i])) == NULL)
		return NULL;
	sqlite3_reset(S.rst[i]);
	sqlite3_clear_bindings(S.rst[i]);
	return S.rst[i];
}

static void
store_db_close(void)
{
	int i;

	for (i = 0; i < R_N; i++)
		sqlite3_finalize(S.rst[i]);
	for (i = 0; i < W_N; i++)
		sqlite3_finalize(S.wst[i]);
	memset(S.rst, 0, sizeof(S.rst));
	memset(S.wst, 0, sizeof(S.wst));
	sqlite3_close(S.wdb);
	sqlite3_close(S.db);
	S.wdb = NULL;
	S.db = NULL;
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

static void
store_row_copy(struct store_row *r, struct conv *c)
{
	unsigned n, first;

	r->id = xstrdup(c->id);
	r->customer_id = c->customer_id ? xstrdup(c->customer_id) : NULL;
	r->customer_name = c->customer_name ? xstrdup(c->customer_name) : NULL;
	r->product = c->product ? xstrdup(c->product) : NULL;
	r->js[0] = store_kv_json(&c->store);
	r->js[1] = store_kv_json(&c->entities);
	r->js[2] = store_kv_json(&c->intents);
	r->owner = c->owner;
	r->vip = c->vip;
	r->v[0] = c->events;
	r->v[1] = c->bot_turns;
	r->v[2] = c->last_ms;
	r->v[3] = c->waiting_since;
	r->v[4] = c->wait_due;
	r->v[5] = c->wait_updates;
	r->v[6] = c->asked_ms;
	r->v[7] = c->followups;
	r->v[STORE_V_LINES] = c->lines;
	/* The lines added since the last write (those still in memory). */
	first = c->lines - c->hist_len;
	if (c->saved_lines > first)
		first = c->saved_lines;
	if (first < c->lines)
		r->lines = xcalloc(c->lines - first, sizeof(*r->lines));
	for (n = first; n < c->lines; n++) {
		const struct conv_line *l =
		    conv_line(c, n - (c->lines - c->hist_len));
		struct store_line *sl = &r->lines[r->nlines++];

		sl->n = n;
		sl->ts = l->ts;
		sl->who[0] = l->from;
		sl->text = xstrdup(l->text);
	}
	c->writing = 1;
}

static void
store_row_free(struct store_row *r)
{
	unsigned i;

	for (i = 0; i < r->nlines; i++)
		free(r->lines[i].text);
	free(r->lines);
	for (i = 0; i < 3; i++)
		free(r->js[i]);
	free(r->id);
	free(r->customer_id);
	free(r->customer_name);
	free(r->product);
}

static struct conv *
store_row_conv(sqlite3_stmt *st)
{
	const char *id = (const char *)sqlite3_column_text(st, 0);
	sqlite3_stmt *ln;
	struct conv *c;
	unsigned lines;

	/* Never a second copy of one in memory: the one there is newer. */
	if ((c = conv_get(id, 0)) != NULL)
		return c;
	c = conv_insert(id);

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
	if ((ln = store_r(R_LINES)) != NULL) {
		store_text(ln, 1, id);
		sqlite3_bind_int(ln, 2, conv_history());
		while (sqlite3_step(ln) == SQLITE_ROW)
			conv_add_line(c,
			    *(const char *)sqlite3_column_text(ln, 1),
			    (const char *)sqlite3_column_text(ln, 2),
			    sqlite3_column_int64(ln, 0));
		sqlite3_reset(ln);
	}
	c->lines = lines;
	c->saved_lines = lines;
	conv_clean(c);
	return c;
}

/*
 * The conversations the database may hold, as 64-bit hashes of their ids:
 * those there when it opened and every one written since (a deleted one
 * stays: that costs a query, nothing more).  A conversation new to the
 * shop, most of them under load, is known to be new without a read
 * transaction (and its file locks) on the loop's connection.
 */
static struct {
	uint64_t *slot; /* 0: empty */
	size_t cap, n;
	int whole; /* loaded without an error: a miss means new */
} K;

static uint64_t
store_known_key(const char *id)
{
	uint64_t h = 14695981039346656037u; /* FNV-1a, 64 bits */

	while (*id != '\0')
		h = (h ^ (uint8_t)*id++) * 1099511628211u;
	return h != 0 ? h : 1;
}

static void store_known_put(uint64_t k);

static void
store_known_grow(void)
{
	uint64_t *old = K.slot;
	size_t i, cap = K.cap;

	K.cap = cap > 0 ? cap * 2 : 1024;
	K.slot = xcalloc(K.cap, sizeof(*K.slot));
	K.n = 0;
	for (i = 0; i < cap; i++)
		if (old[i] != 0)
			store_known_put(old[i]);
	free(old);
}

static void
store_known_put(uint64_t k)
{
	size_t i;

	if (2 * (K.n + 1) > K.cap)
		store_known_grow();
	for (i = k & (K.cap - 1); K.slot[i] != 0; i = (i + 1) & (K.cap - 1))
		if (K.slot[i] == k)
			return;
	K.slot[i] = k;
	K.n++;
}

static int
store_known(const char *id)
{
	uint64_t k = store_known_key(id);
	size_t i;

	if (!K.whole)
		return 1; /* not known to be new: ask the database */
	for (i = k & (K.cap - 1); K.slot[i] != 0; i = (i + 1) & (K.cap - 1))
		if (K.slot[i] == k)
			return 1;
	return 0;
}

static void store_prune_later(void);

static void
store_known_load(void)
{
	sqlite3_stmt *st;
	const char *id;
	int r;

	free(K.slot);
	memset(&K, 0, sizeof(K));
	store_known_grow();
	if ((st = store_prep("SELECT id FROM conv")) == NULL)
		return;
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		if ((id = (const char *)sqlite3_column_text(st, 0)) != NULL)
			store_known_put(store_known_key(id));
	sqlite3_finalize(st);
	/* A scan cut short would make stored conversations look new and
	 * their state overwritten: then every lookup asks. */
	K.whole = r == SQLITE_DONE;
	if (!K.whole)
		log_warnx("store: cannot list the conversations in %s (%s); "
		          "every new one is looked up",
		    S.path, sqlite3_errstr(r));
}

struct conv *
store_load_conv(const char *id)
{
	sqlite3_stmt *st;
	struct conv *c = NULL;

	if (S.db == NULL || !store_known(id) || (st = store_r(R_CONV)) == NULL)
		return NULL;
	store_text(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		c = store_row_conv(st);
	sqlite3_reset(st);
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
	if ((st = store_prep(
	         "SELECT v FROM meta WHERE k = 'platform_resume'")) != NULL) {
		platform_restore(last,
		    sqlite3_step(st) == SQLITE_ROW
		        ? (const char *)sqlite3_column_text(st, 0)
		        : NULL);
		sqlite3_finalize(st);
	}
	S.written = last;
	store_known_load();
	store_prune_later();
	/*
	 * Those that need attention without a new event (with an agent,
	 * waiting for one, with a follow-up due, or with a handoff to ask
	 * for again when agents are back); the others load when
	 * their next event comes, so start-up stays short after months.
	 */
	snprintf(sql, sizeof(sql),
	    "%s WHERE owner IN (%d, %d) OR (owner = %d AND (asked_ms > 0 OR "
	    "waiting_since > 0))",
	    STORE_CONV_COLS, CONV_WAITING, CONV_AGENT, CONV_BOT);
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

/*
 * A database a newer kefud wrote (PRAGMA user_version above ours) is not
 * touched: after a downgrade, the backup from before the upgrade is the
 * way back.  Closes it and says so (1), or 0.
 */
static int
store_schema_newer(void)
{
	sqlite3_stmt *st;
	int v = 0;

	if (sqlite3_prepare_v2(S.db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (v <= STORE_SCHEMA)
		return 0;
	store_db_close();
	log_emit(LOG_PRI_ERR,
	    "store: %s has schema %d, newer than this kefud's %d: it was written by a newer kefu; run that, or restore the backup from before the upgrade",
	    S.path, v, STORE_SCHEMA);
	return 1;
}

/*
 * The state of another kind of platform (its seqs and its position mean
 * nothing to this one): not used, and left as it is.  A state without a
 * kind is this one's from now on.
 */
static int
store_other_platform(void)
{
	const char *kind = platform_kind();
	sqlite3_stmt *st;
	char *sql;
	int other = 0;

	if (*kind == '\0')
		return 0;
	if (sqlite3_prepare_v2(S.db,
	        "SELECT v FROM meta WHERE k = 'platform_kind'", -1, &st,
	        NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_text(st, 0) != NULL &&
		    strcmp((const char *)sqlite3_column_text(st, 0), kind) !=
		        0) {
			log_emit(LOG_PRI_ERR,
			    "store: %s holds the state of a platform of kind "
			    "\"%s\", and platform.kind is \"%s\": give this "
			    "platform a state_dir of its own",
			    S.path, (const char *)sqlite3_column_text(st, 0),
			    kind);
			other = 1;
		}
		sqlite3_finalize(st);
	}
	if (other)
		store_db_close();
	else if ((sql = sqlite3_mprintf("CREATE TABLE IF NOT EXISTS "
	                                "meta(k TEXT PRIMARY KEY, v INTEGER);"
	                                "INSERT OR REPLACE INTO meta "
	                                "VALUES('platform_kind', %Q)",
	              kind)) != NULL) {
		sqlite3_exec(S.db, sql, NULL, NULL, NULL);
		sqlite3_free(sql);
	}
	return other;
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
		store_db_close();
		return -1;
	}
	if (store_schema_newer() || store_other_platform())
		return -2;
	if (store_exec("PRAGMA quick_check") < 0 ||
	    store_exec(store_schema) < 0 ||
	    store_exec("PRAGMA user_version = " STORE_STR(STORE_SCHEMA)) < 0) {
		r = sqlite3_errcode(S.db);
		store_db_close();
		if (r == SQLITE_CORRUPT || r == SQLITE_NOTADB) {
			char aside[PATH_MAX];

			if (!S.move_corrupt) {
				log_emit(LOG_PRI_ERR,
				    "store: %s is corrupt; kefud waits for it to serve and acknowledge anything; move it aside, or set state_move_corrupt = true",
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
	/* The writer's connection; synchronous is a connection's setting. */
	if ((r = sqlite3_open_v2(S.path, &S.wdb, SQLITE_OPEN_READWRITE,
	         NULL)) != SQLITE_OK ||
	    (r = sqlite3_exec(S.wdb, "PRAGMA synchronous=FULL", NULL, NULL,
	         NULL)) != SQLITE_OK) {
		log_warnx("store: cannot open %s for writing: %s", S.path,
		    sqlite3_errstr(r));
		store_db_close();
		return -1;
	}
	/* Readers in WAL mode wait only out the writer's rare recovery. */
	sqlite3_busy_timeout(S.db, 200);
	return 0;
}

void
store_on_restored(void (*fn)(void))
{
	S.on_restored = fn;
}

/*
 * One kefud per state directory: two would share the database and the
 * platform's conversations.  The lock lives as long as the process (the
 * descriptor is never closed; the kernel drops the lock at exit), and the
 * file says which process holds it.  Root on a directory that belongs to
 * the service's user would leave files the service cannot write.
 */
int
store_lock(const char *state_dir)
{
	char path[PATH_MAX], pid[32];
	struct stat st;
	ssize_t n;
	int fd;

	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST) {
		log_warn("cannot create state_dir %s", state_dir);
		return -1;
	}
	if (stat(state_dir, &st) < 0) {
		log_warn("state_dir %s", state_dir);
		return -1;
	}
	if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
		log_warnx(
		    "state_dir %s: refused: anybody may write there (mode "
		    "%04o)",
		    state_dir, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if (geteuid() == 0 && st.st_uid != 0) {
		log_warnx(
		    "state_dir %s belongs to uid %u, and kefud runs as root: the files it would create there the service could not write; run it as that user (runuser -u kefu -- kefud ...) or through systemd",
		    state_dir, (unsigned)st.st_uid);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/kefu.lock", state_dir);
	if ((fd = open(path,
	         O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
	         0600)) < 0) {
		log_warn("cannot open %s", path);
		return -1;
	}
	/* Ours alone: not a FIFO or device, nor a link to another file. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    st.st_uid != geteuid()) {
		log_warnx("%s: refused: must be a regular file of kefud's user "
		          "with no other links; remove it",
		    path);
		close(fd);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			log_warn("cannot lock %s", path);
		} else {
			n = pread(fd, pid, sizeof(pid) - 1, 0);
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			log_warnx(
			    "another kefud (pid %s) uses state_dir %s: it holds %s; stop it first",
			    pid[0] != '\0' ? pid : "unknown", state_dir, path);
		}
		close(fd);
		return -1;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("%s: cannot write the pid", path); /* still locked */
	return 0;
}

int
store_open(const char *state_dir, int move_corrupt)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/kefu.db", state_dir);
	S.dir = xstrdup(state_dir);
	S.path = xstrdup(path);
	S.move_corrupt = move_corrupt;
	S.retry_ms = STORE_RETRY_MIN_MS;
	store_thread_start();
	if ((r = store_try_open()) == -2) {
		/* Waiting would not help: the caller stops.  Nothing is
		 * written to it, not even at store_close(). */
		free(S.dir);
		S.dir = NULL;
		return -2;
	}
	if (r < 0) {
		S.failing = 1;
		loop_timer_set(&S.timer, S.retry_ms, store_flush_cb, NULL);
		return -1;
	}
	store_restore();
	S.restored = 1;
	return 0;
}

/* -- writing ------------------------------------------------------------ */

static struct store_op *
store_op_add(const char *id, uint64_t seq, const char *frame)
{
	struct store_op *op;

	if (S.dir == NULL) /* no store (--replay, tests): nothing is kept */
		return NULL;
	op = xcalloc(1, sizeof(*op));
	op->id = xstrdup(id);
	op->seq = seq;
	op->frame = xstrdup(frame);
	*S.ops_tail = op;
	S.ops_tail = &op->next;
	store_soon();
	return op;
}

void
store_outbox_put(const char *id, uint64_t seq, const char *frame)
{
	store_op_add(id, seq, frame);
}

void
store_question(const char *conv, const char *text, const char *candidates,
    int64_t ts)
{
	struct store_op *op;

	if (S.dir == NULL) /* --replay: nothing is kept */
		return;
	op = store_op_add(conv, (uint64_t)ts, text);
	op->question = 1;
	op->candidates = candidates != NULL ? xstrdup(candidates) : NULL;
}

void
store_conversations_keep(int days)
{
	S.conv_keep_ms = (int64_t)days * 86400000;
	store_prune_later();
}

void
store_questions_keep(int days, long max)
{
	S.keep_ms = (int64_t)days * 86400000;
	S.keep_max = max;
}

int
store_questions(int64_t since,
    void (*fn)(void *arg, int64_t ts, const char *conv, const char *text,
        const char *candidates),
    void *arg)
{
	sqlite3_stmt *st;
	int n = 0;

	if (S.db == NULL ||
	    (st = store_prep("SELECT ts, conv, text, candidates FROM "
	                     "unanswered WHERE ts >= ? ORDER BY id")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, since);
	while (sqlite3_step(st) == SQLITE_ROW) {
		fn(arg, sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    (const char *)sqlite3_column_text(st, 2),
		    (const char *)sqlite3_column_text(st, 3));
		n++;
	}
	sqlite3_finalize(st);
	return n;
}

/*
 * kefuctl purge: conversations idle over `days` that nothing waits on go,
 * with their transcripts, in the writer's bounded batches, as retention
 * does.  Returns how many there are now, counted up to
 * STORE_PURGE_COUNT_MAX so that the loop never waits long for the answer
 * (-1: the store is not open).
 */
long
store_purge(int days)
{
	sqlite3_stmt *st;
	int64_t before = clock_wall_ms() - (int64_t)days * 86400000;
	long n = -1;

	if (S.db == NULL ||
	    (st = store_prep("SELECT count(*) FROM (SELECT 1 FROM conv WHERE"
	                     " last_ms < ? AND owner IN (0, 3) AND"
	                     " waiting_since = 0 AND asked_ms = 0 LIMIT"
	                     " " STORE_STR(STORE_PURGE_COUNT_MAX) ")")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, before);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (n > 0 && before > S.purge_before) {
		S.purge_before = before;
		store_soon();
	}
	return n;
}

void
store_outbox_del(const char *id)
{
	store_op_add(id, 0, NULL);
}

static void
store_ops_free(struct store_op *op)
{
	struct store_op *next;

	for (; op != NULL; op = next) {
		next = op->next;
		free(op->id);
		free(op->frame);
		free(op->candidates);
		free(op);
	}
}

static void
store_ops_clear(void)
{
	store_ops_free(S.ops);
	S.ops = NULL;
	S.ops_tail = &S.ops;
}

/* -- the writer's side: SQL only, no logging ----------------------------- */

static sqlite3_stmt *
store_w(int i)
{
	if (S.wst[i] == NULL &&
	    sqlite3_prepare_v2(S.wdb, store_wsql[i], -1, &S.wst[i], NULL) !=
	        SQLITE_OK)
		return NULL;
	sqlite3_reset(S.wst[i]);
	sqlite3_clear_bindings(S.wst[i]);
	return S.wst[i];
}

static int
store_w_step(sqlite3_stmt *st)
{
	return st != NULL && sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

static int
store_put_row(const struct store_row *r)
{
	sqlite3_stmt *st;
	unsigned i;

	if ((st = store_w(W_CONV)) == NULL)
		return -1;
	store_text(st, 1, r->id);
	sqlite3_bind_int(st, 2, r->owner);
	store_text(st, 3, r->customer_id);
	store_text(st, 4, r->customer_name);
	sqlite3_bind_int(st, 5, r->vip);
	store_text(st, 6, r->product);
	for (i = 0; i < 9; i++)
		sqlite3_bind_int64(st, 7 + (int)i, r->v[i]);
	for (i = 0; i < 3; i++)
		store_text(st, 16 + (int)i, r->js[i]);
	if (store_w_step(st) < 0)
		return -1;
	for (i = 0; i < r->nlines; i++) {
		if ((st = store_w(W_LINE)) == NULL)
			return -1;
		store_text(st, 1, r->id);
		sqlite3_bind_int64(st, 2, r->lines[i].n);
		sqlite3_bind_int64(st, 3, r->lines[i].ts);
		store_text(st, 4, r->lines[i].who);
		store_text(st, 5, r->lines[i].text);
		if (store_w_step(st) < 0)
			return -1;
	}
	return 0;
}

static void
store_batch_write(struct store_batch *b)
{
	struct store_op *op;
	sqlite3_stmt *st;
	size_t i;
	int questions = 0;

	if (store_w_step(store_w(W_BEGIN)) < 0)
		goto fail;
	for (i = 0; i < b->nrows; i++)
		if (store_put_row(&b->rows[i]) < 0)
			goto fail;
	for (op = b->ops; op != NULL; op = op->next) {
		if (op->question) {
			if ((st = store_w(W_Q_PUT)) == NULL)
				goto fail;
			sqlite3_bind_int64(st, 1, (sqlite3_int64)op->seq);
			store_text(st, 2, op->id);
			store_text(st, 3, op->frame);
			store_text(st, 4, op->candidates);
			if (store_w_step(st) < 0)
				goto fail;
			questions = 1;
			continue;
		}
		if ((st = store_w(op->frame != NULL ? W_OUT_PUT : W_OUT_DEL)) ==
		    NULL)
			goto fail;
		store_text(st, 1, op->id);
		if (op->frame != NULL) {
			sqlite3_bind_int64(st, 2, op->seq);
			store_text(st, 3, op->frame);
		}
		if (store_w_step(st) < 0)
			goto fail;
	}
	/* The retention limit, kept as questions come. */
	if (questions && S.keep_max > 0) {
		if ((st = store_w(W_Q_PRUNE)) == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1,
		    (sqlite3_int64)(b->questions_now - S.keep_ms));
		sqlite3_bind_int64(st, 2, S.keep_max);
		if (store_w_step(st) < 0)
			goto fail;
	}
	/* Retention: conversations (and their lines) past keep_days. */
	if (b->prune_before > 0) {
		if ((st = store_w(W_CONV_PRUNE_LINES)) == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)b->prune_before);
		if (store_w_step(st) < 0 ||
		    (st = store_w(W_CONV_PRUNE)) == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)b->prune_before);
		if (store_w_step(st) < 0)
			goto fail;
		b->pruned = sqlite3_changes(S.wdb);
	}
	if ((st = store_w(W_META)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)b->seq);
	if (store_w_step(st) < 0)
		goto fail;
	/* The driver's resume point (a cursor) in the same transaction as
	 * the effects of the events it covers. */
	if (b->resume != NULL) {
		if ((st = store_w(W_RESUME)) == NULL)
			goto fail;
		sqlite3_bind_text(st, 1, b->resume, -1, SQLITE_STATIC);
		if (store_w_step(st) < 0)
			goto fail;
	}
	if (store_w_step(store_w(W_COMMIT)) < 0)
		goto fail;
	b->failed = 0;
	return;
fail:
	snprintf(b->err, sizeof(b->err), "%s", sqlite3_errmsg(S.wdb));
	for (i = 0; i < W_N; i++)
		if (S.wst[i] != NULL)
			sqlite3_reset(S.wst[i]);
	sqlite3_exec(S.wdb, "ROLLBACK", NULL, NULL, NULL);
	b->failed = 1;
}

static void *
store_thread(void *arg)
{
	struct store_batch *b;
	uint64_t one = 1;

	(void)arg;
	/* Its own name in top -H and /proc/PID/task (the benchmarks). */
	pthread_setname_np(pthread_self(), "kefud-store");
	/*
	 * On a busy machine the loop goes first: a commit can wait a little,
	 * a reply should not.  (Raising one's own nice needs no privilege.)
	 */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), STORE_WRITER_NICE) < 0)
		/* Same priority as the loop: still correct, but say so (a
		 * system call filter that forbids it, say). */
		log_warn("store: the writer cannot lower its priority");
	pthread_mutex_lock(&W.mu);
	for (;;) {
		while (W.job == NULL && !W.quit)
			pthread_cond_wait(&W.cv, &W.mu);
		if ((b = W.job) == NULL)
			break;
		pthread_mutex_unlock(&W.mu);
		store_batch_write(b);
		pthread_mutex_lock(&W.mu);
		W.job = NULL;
		W.done = b;
		pthread_cond_signal(&W.done_cv);
		if (write(W.efd, &one, sizeof(one)) < 0) {
			/* The counter is full: the loop has a wake-up due. */
		}
	}
	pthread_mutex_unlock(&W.mu);
	return NULL;
}

/* -- the loop's side ----------------------------------------------------- */

static void
store_batch_free(struct store_batch *b)
{
	size_t i;

	for (i = 0; i < b->nrows; i++)
		store_row_free(&b->rows[i]);
	free(b->rows);
	store_ops_free(b->ops);
	free(b->resume);
	free(b);
}

static void
store_prune_cb(void *arg)
{
	(void)arg;
	store_soon();
}

/* Retention in a minute, whether or not anything else writes by then. */
static void
store_prune_later(void)
{
	if (S.dir != NULL && S.conv_keep_ms > 0 && S.prune_timer.slot == 0)
		loop_timer_set(&S.prune_timer, 60000, store_prune_cb, NULL);
}

static void
store_failed(const char *why)
{
	S.failures++;
	if (log_throttle_pass(&S.fail_log, clock_mono_ms()))
		log_emit(LOG_PRI_ERR,
		    "store: cannot write %s: %s; serving from memory, acknowledging nothing new; retrying in %lld s",
		    S.path, why, (long long)S.retry_ms / 1000);
	S.failing = 1;
	loop_timer_set(&S.timer, S.retry_ms, store_flush_cb, NULL);
	S.retry_ms = S.retry_ms * 2 > STORE_RETRY_MAX_MS ? STORE_RETRY_MAX_MS
	                                                 : S.retry_ms * 2;
}

/*
 * What changed since the last batch, copied; NULL with *r set when there
 * is nothing to write (0: all durable) or the database is not open (-1).
 */
static struct store_batch *
store_batch_take(int *r)
{
	uint64_t seq = event_handled();
	struct store_batch *b;
	struct conv *dirty, *c;
	size_t n = 0;
	int prune;

	S.armed = 0;
	*r = -1;
	if (S.dir == NULL)
		return NULL;
	if (S.db == NULL) {
		if ((*r = store_try_open()) == -2) {
			/* A newer kefud's, found on a retry: as at start. */
			free(S.dir);
			S.dir = NULL;
			loop_stop(EX_CONFIG);
			return NULL;
		}
		*r = -1;
		if (S.db == NULL) {
			store_failed("not open");
			return NULL;
		}
		if (!S.restored) {
			store_restore();
			S.restored = 1;
			log_info("store: %s open at last; state restored",
			    S.path);
			if (S.on_restored != NULL)
				S.on_restored();
		} else
			store_rewrite();
	}
	dirty = conv_take_dirty();
	/* Retention once a minute, or at once while a full batch went or
	 * a purge waits. */
	prune = (S.conv_keep_ms > 0 || S.purge_before > 0) &&
	    (S.prune_more || S.purge_before > 0 ||
	        clock_mono_ms() - S.pruned_ms >= 60000);
	/* Nothing new: no transaction. */
	if (dirty == NULL && S.ops == NULL && seq == S.written && !S.failing &&
	    !prune) {
		event_durable(seq);
		*r = 0;
		return NULL;
	}
	for (c = dirty; c != NULL; c = c->dirty_next)
		n++;
	b = xcalloc(1, sizeof(*b));
	b->rows = xcalloc(n > 0 ? n : 1, sizeof(*b->rows));
	for (c = dirty; c != NULL; c = c->dirty_next) {
		store_row_copy(&b->rows[b->nrows++], c);
		store_known_put(store_known_key(c->id));
	}
	b->ops = S.ops;
	S.ops = NULL;
	S.ops_tail = &S.ops;
	b->seq = seq;
	b->resume = platform_resume_point(seq);
	b->questions_now = clock_wall_ms();
	if (prune) {
		b->prune_before =
		    S.conv_keep_ms > 0 ? b->questions_now - S.conv_keep_ms : 0;
		if (S.purge_before > b->prune_before)
			b->prune_before = S.purge_before;
		S.pruned_ms = clock_mono_ms();
	}
	return b;
}

/* A batch is back from the writer: acknowledge, or keep it all for the
 * next try. */
static int
store_batch_done(struct store_batch *b)
{
	struct store_op **tail;
	struct conv *c;
	size_t i;
	int r = b->failed ? -1 : 0;

	for (i = 0; i < b->nrows; i++) {
		if ((c = conv_get(b->rows[i].id, 0)) == NULL)
			continue;
		c->writing = 0;
		if (b->failed)
			conv_touch(c);
		else if (c->saved_lines < b->rows[i].v[STORE_V_LINES])
			c->saved_lines = (unsigned)b->rows[i].v[STORE_V_LINES];
	}
	if (b->failed && b->ops != NULL) {
		/* Its actions are older than those queued since.  (The tail
		 * is in the batch's last action, never in the batch.) */
		for (tail = &b->ops; *tail != NULL; tail = &(*tail)->next)
			;
		*tail = S.ops;
		if (S.ops == NULL)
			S.ops_tail = tail;
		S.ops = b->ops;
		b->ops = NULL;
	}
	if (b->failed)
		store_failed(b->err);
	else {
		S.written = b->seq;
		if (S.failing) {
			log_info("store: writing %s again after %u failed "
			         "attempts",
			    S.path, S.failures);
			log_throttle_clear(&S.fail_log);
			S.failing = 0;
			S.failures = 0;
			/* What came while failing asked for no batch. */
			store_soon();
		}
		S.retry_ms = STORE_RETRY_MIN_MS;
		event_durable(b->seq);
		S.prune_more = b->pruned >= STORE_PRUNE_MAX;
		if (b->prune_before > 0 && b->prune_before >= S.purge_before &&
		    !S.prune_more)
			S.purge_before = 0; /* done */
		if (b->pruned > 0)
			log_info("store: %d conversations idle over %lld days "
			         "deleted, with their transcripts",
			    b->pruned,
			    (long long)((b->questions_now - b->prune_before +
			                    43200000) /
			        86400000));
	}
	/* More to delete, or retention due in a minute even if nothing else
	 * asks for a batch by then. */
	if (S.prune_more || S.purge_before > 0)
		store_soon();
	else
		store_prune_later();
	store_batch_free(b);
	return r;
}

/*
 * Takes the result of the batch in flight, if any, waiting for it when
 * `wait`; 1 when there was one.
 */
static int
store_take_result(int wait)
{
	struct store_batch *b;

	if (!S.busy)
		return 0;
	pthread_mutex_lock(&W.mu);
	while (wait && W.done == NULL)
		pthread_cond_wait(&W.done_cv, &W.mu);
	b = W.done;
	W.done = NULL;
	pthread_mutex_unlock(&W.mu);
	if (b == NULL)
		return 0;
	S.busy = 0;
	store_batch_done(b);
	return 1;
}

static void
store_wait(void)
{
	store_take_result(1);
}

int
store_flush(void)
{
	struct store_batch *b;
	int r;

	store_wait();
	if ((b = store_batch_take(&r)) == NULL)
		return r;
	store_batch_write(b);
	return store_batch_done(b);
}

/* The timer: hand the batch to the writer and go on serving. */
static void
store_flush_cb(void *arg)
{
	struct store_batch *b;
	int r;

	(void)arg;
	if (!W.running) {
		store_flush();
		return;
	}
	if (S.busy) {
		S.armed = 0;
		S.again = 1;
		return;
	}
	if ((b = store_batch_take(&r)) == NULL)
		return;
	S.busy = 1;
	pthread_mutex_lock(&W.mu);
	W.job = b;
	pthread_cond_signal(&W.cv);
	pthread_mutex_unlock(&W.mu);
}

static int
store_wake(int fd, void *arg)
{
	uint64_t n;

	(void)arg;
	if (fd < 0)
		return -1;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return 0;
	/* None when store_wait() took it already. */
	if (store_take_result(0) && S.again && !S.failing) {
		S.again = 0;
		store_flush_cb(NULL);
	}
	return 0;
}

static void
store_thread_start(void)
{
	if ((W.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return;
	if (loop_context() == NULL || loop_watch(W.efd, store_wake, NULL) < 0) {
		/* No loop: batches are written in place. */
		close(W.efd);
		W.efd = -1;
		return;
	}
	W.quit = 0;
	if (pthread_create(&W.tid, NULL, store_thread, NULL) != 0) {
		log_warnx("store: no writer thread; writing in the loop");
		return;
	}
	W.running = 1;
}

static void
store_thread_stop(void)
{
	if (W.running) {
		pthread_mutex_lock(&W.mu);
		W.quit = 1;
		pthread_cond_signal(&W.cv);
		pthread_mutex_unlock(&W.mu);
		pthread_join(W.tid, NULL);
		W.running = 0;
	}
	W.efd = -1; /* the loop's now */
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
	store_wait();
	if (S.dir != NULL && !S.failing)
		store_flush();
	store_thread_stop();
	loop_timer_cancel(&S.timer);
	loop_timer_cancel(&S.prune_timer);
	store_ops_clear();
	store_db_close();
	free(K.slot);
	memset(&K, 0, sizeof(K));
	free(S.dir);
	free(S.path);
	memset(&S, 0, sizeof(S));
	S.ops_tail = &S.ops;
	S.keep_ms = (int64_t)90 * 86400000;
	S.keep_max = 10000;
}
