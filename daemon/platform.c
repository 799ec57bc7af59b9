/*
 * The driver the configuration names (platform.kind), behind one set of
 * functions for the core.  Switching kinds on a reload stops the old
 * driver and starts the new one.
 */
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "platform.h"
#include "token.h"
#include "xmalloc.h"

static const struct platform_driver *const platform_drivers[] = {
    &platform_kefu,
    &platform_wechat_kf,
};

static const struct platform_core *pf_core;
static const struct platform_driver *pf; /* the running one, or NULL */
static int pf_held;
static int (*pf_sink)(char *frame);
static char *pf_listen; /* where ctl listens for the platform */

const struct platform_driver *
platform_find(const char *kind)
{
	size_t i;

	for (i = 0; i < sizeof(platform_drivers) / sizeof(*platform_drivers);
	     i++)
		if (strcmp(platform_drivers[i]->kind, kind) == 0)
			return platform_drivers[i];
	return NULL;
}

const char *
platform_kinds(void)
{
	return "\"kefu\" (kefu's own protocol), \"wechat-kf\" (微信客服)";
}

void
platform_set_core(const struct platform_core *core)
{
	pf_core = core;
}

void
platform_set_sink(int (*fn)(char *frame))
{
	pf_sink = fn;
}

void
platform_configure(const struct conf_platform *p, struct token *tok)
{
	const struct platform_driver *d;

	if (p == NULL || !p->present) {
		token_free(tok);
		platform_stop();
		log_warnx("no \"platform\" in the configuration: kefud runs "
		          "without a platform");
		return;
	}
	/* conf.c accepts only kinds that platform_find() knows. */
	if ((d = p->driver) == NULL)
		fatalx("platform.kind \"%s\" has no driver", p->kind);
	if (pf != NULL && pf != d) {
		log_info("platform: switching from %s to %s", pf->kind,
		    d->kind);
		platform_stop();
	}
	/* ctl listens where the first generation said (like the control
	 * socket): a new address waits for a restart. */
	if (pf_listen == NULL && p->listen != NULL)
		pf_listen = xstrdup(p->listen);
	else if (p->listen != NULL && strcmp(pf_listen, p->listen) != 0)
		log_warnx("platform.listen is %s now: callbacks still come to "
		          "%s until kefud restarts",
		    p->listen, pf_listen);
	pf = d;
	if (pf_held)
		pf->hold(1);
	pf->configure(p, tok, pf_core);
}

void
platform_stop(void)
{
	if (pf != NULL)
		pf->stop();
	pf = NULL;
}

int
platform_send(char *action)
{
	if (pf_sink != NULL)
		return pf_sink(action);
	if (pf == NULL) {
		free(action);
		return -1;
	}
	return pf->send(action);
}

int
platform_ack(uint64_t seq)
{
	if (pf_sink != NULL)
		return 0;
	return pf != NULL ? pf->ack(seq) : -1;
}

int
platform_ready(void)
{
	return pf != NULL && pf->ready();
}

int
platform_settled(void)
{
	return pf != NULL && pf->settled();
}

int64_t
platform_result_wait_ms(void)
{
	return pf != NULL ? pf->result_wait_ms() : 0;
}

void
platform_hold(int on)
{
	pf_held = on;
	if (pf != NULL)
		pf->hold(on);
}

const char *
platform_state_name(void)
{
	return pf != NULL ? pf->state_name() : "off";
}

const char *
platform_shop_name(void)
{
	return pf != NULL ? pf->shop_name() : "";
}

const char *
platform_kind(void)
{
	return pf != NULL ? pf->kind : "";
}

char *
platform_resume_point(uint64_t seq)
{
	return pf != NULL && pf->resume_point != NULL ? pf->resume_point(seq)
	                                              : NULL;
}

void
platform_restore(uint64_t seq, const char *resume)
{
	if (pf != NULL && pf->restore != NULL)
		pf->restore(seq, resume);
}

int
platform_http(const char *method, const char *target, const char *body,
    size_t len, char **out, const char **ctype)
{
	*out = NULL;
	*ctype = "text/plain; charset=utf-8";
	if (pf == NULL || pf->http == NULL) {
		*out = xstrdup("no platform driver takes requests here\n");
		return 503;
	}
	return pf->http(method, target, body, len, out, ctype);
}
