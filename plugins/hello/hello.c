/*
 * hello: the smallest useful plugin.  It greets a customer once, on the
 * first event of a conversation, with the text from its configuration
 * section, and lets every later event pass to the next plugin.
 *
 *	plugins = ["hello"];
 *	hello = { text = "您好,欢迎光临!请问有什么可以帮您?"; };
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "kefu/plugin.h"

struct hello {
	const struct kefu_host *host;
	char *text;
};

static int
hello_init(const struct kefu_host *host, const struct kefu_conf *conf,
    void **state)
{
	static const char *const keys[] = {"text", NULL};
	struct hello *h;
	const char *text = NULL;

	if (conf == NULL) {
		host->conf_error(NULL, "hello",
		    "missing section with the greeting text");
		return -1;
	}
	if (host->conf_check_keys(conf, keys) < 0 ||
	    host->conf_string(conf, "text", &text) < 0)
		return -1;
	if (text == NULL || *text == '\0') {
		host->conf_error(conf, "text", "missing or empty greeting");
		return -1;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->text = strdup(text)) == NULL) {
		free(h);
		return -1;
	}
	h->host = host;
	*state = h;
	return 0;
}

static enum kefu_verdict
hello_handle(void *state, struct kefu_turn *t, const struct kefu_event *ev)
{
	struct hello *h = state;

	if (ev->type != KEFU_EV_OPENED && ev->type != KEFU_EV_MESSAGE)
		return KEFU_NEXT;
	if (h->host->store_get(t, "greeted") != NULL)
		return KEFU_NEXT;
	h->host->store_set(t, "greeted", "1");
	if (h->host->reply(t, h->text) < 0)
		return KEFU_NEXT;
	/* A message still needs its answer from the plugins after us. */
	return ev->type == KEFU_EV_OPENED ? KEFU_STOP : KEFU_NEXT;
}

static void
hello_fini(void *state)
{
	struct hello *h = state;

	free(h->text);
	free(h);
}

KEFU_PLUGIN_EXPORT = {
    .abi_major = KEFU_ABI_MAJOR,
    .abi_minor = KEFU_ABI_MINOR,
    .size = sizeof(struct kefu_plugin),
    .name = "hello",
    .version = "1.0.0",
    .init = hello_init,
    .handle = hello_handle,
    .fini = hello_fini,
};
