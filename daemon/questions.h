#ifndef KEFU_QUESTIONS_H
#define KEFU_QUESTIONS_H

#include <stdint.h>

#include <cjson/cJSON.h>

/*
 * The questions kept since `since` (ms since the epoch), grouped by
 * similarity, most asked first, at most limit groups: {"questions": N,
 * "groups": G, "unanswered": [{"count", "last_ms", "texts",
 * "conversations", "candidates"}]}; NULL when the store is not open.
 */
cJSON *questions_json(int64_t since, int limit);

#endif
