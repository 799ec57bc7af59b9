#ifndef KEFU_REPLAY_H
#define KEFU_REPLAY_H

#include <stdio.h>

/*
 * kefud --replay FILE: customer messages (one per line, or JSON lines
 * {"conversation": "...", "text": "..."}) through the configuration's
 * plugins and guard, one JSON line out per message.  No network, no store.
 */
int replay_run(const char *conf_path, const char *input, FILE *out);

#endif
