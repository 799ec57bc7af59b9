#ifndef KEFU_HOST_H
#define KEFU_HOST_H

#include "kefu/plugin.h"

/* The table of core services handed to every plugin's init. */
const struct kefu_host *host_table(void);

#endif
