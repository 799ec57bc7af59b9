#ifndef KEFU_STORE_H
#define KEFU_STORE_H

#include <stdint.h>

#include "conv.h"

/*
 * State that survives restarts, in SQLite (WAL) under state_dir: the last
 * handled seq, conversations with owner and timers, transcripts, and the
 * outbox of actions without results.  Changes are gathered for a few
 * milliseconds and committed in one transaction on a writer thread; only
 * then are the events they came from acknowledged.  When writing fails (disk
 * full, read-only, locked) kefud keeps serving from memory, acknowledges
 * nothing new, and retries.
 */

/* Takes state_dir for this process alone, or says why not (-1). */
int store_lock(const char *state_dir);
/* Opens (creating) state_dir/kefu.db and restores what it holds; -1: it
 * will try again, -2: it cannot be used (a newer kefud's). */
int store_open(const char *state_dir, int move_corrupt);
/* Conversations idle this many days (with the bot, nothing due, or
 * closed) are deleted with their transcripts, a batch a minute. */
void store_conversations_keep(int days);
/* Deletes conversations idle over days now (kefuctl purge): how many,
 * counted up to STORE_PURGE_COUNT_MAX. */
#define STORE_PURGE_COUNT_MAX 100000
long store_purge(int days);
/* Called once the state is restored, when the database opened only after
 * store_open() had failed (fn NULL: nothing). */
void store_on_restored(void (*fn)(void));
void store_close(void);
int store_ok(void); /* open and the last write succeeded */

/* Something changed: write it with the next batch. */
void store_soon(void);
/* Writes now; 0 when everything is durable. */
int store_flush(void);

void store_outbox_put(const char *id, uint64_t seq, const char *frame);
void store_outbox_del(const char *id);
/*
 * Questions the bot could not answer, for `kefuctl unanswered`: written
 * with the next batch, kept for days and at most max rows.
 */
void store_question(const char *conv, const char *text, const char *candidates,
    int64_t ts);
void store_questions_keep(int days, long max);
/* Calls fn for each kept since then, oldest first; how many, or -1. */
int store_questions(int64_t since,
    void (*fn)(void *arg, int64_t ts, const char *conv, const char *text,
        const char *candidates),
    void *arg);

/* A conversation not in memory, from the database, or NULL. */
struct conv *store_load_conv(const char *id);

#endif
