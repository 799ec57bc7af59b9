/*
 * Loading plugins.  dlopen() of a path that is already loaded returns the
 * old handle, so a plugin rebuilt in place would never become live.  Each
 * plugin is therefore copied into a memfd and loaded from /proc/self/fd/N;
 * the memfd stays open while the plugin is loaded, so no two live copies
 * share a name.  The copy also means a .so overwritten in place by ops can
 * never pull code from under the running daemon.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"
#include "log.h"
#include "plugin.h"
#include "turn.h"

static struct plugin *plugin_running;

const char *
plugin_current(void)
{
	return plugin_running != NULL ? plugin_running->name : NULL;
}

void
plugin_info_set(const char *key, const char *value)
{
	if (plugin_running != NULL && key != NULL)
		kv_set(&plugin_running->info, key, value);
}

static void
plugin_enter(struct plugin *p)
{
	plugin_running = p;
	log_set_tag(p->name);
}

static void
plugin_leave(void)
{
	plugin_running = NULL;
	log_set_tag(NULL);
}

/* The plugin's detect, when its descriptor is of ABI 1.3 or later. */
static int
plugin_has_detect(const struct plugin *p)
{
	return p->desc->size >=
	    offsetof(struct kefu_plugin, detect) + sizeof(p->desc->detect) &&
	    p->desc->detect != NULL;
}

/*
 * A plugin runs with the daemon's rights: refuse one that anybody but root
 * or the daemon's user could have changed.  Group write counts only for
 * root's group: the service's group (kefu) is the one ops join to run
 * kefuctl, and must not be able to plant code.
 */
static int
plugin_trusted(const char *what, const struct stat *st)
{
	uid_t me = geteuid();

	if (st->st_uid != 0 && st->st_uid != me) {
		log_warnx(
		    "%s: refused: owned by uid %u, not root or the service user",
		    what, (unsigned)st->st_uid);
		return 0;
	}
	if ((st->st_mode & S_IWOTH) ||
	    ((st->st_mode & S_IWGRP) && st->st_gid != 0)) {
		log_warnx("%s: refused: writable by others (mode %04o)", what,
		    (unsigned)(st->st_mode & 07777));
		return 0;
	}
	return 1;
}

static int
plugin_copy(const char *file, int *memfdp)
{
	char buf[65536], dir[PATH_MAX], *slash;
	struct stat st;
	ssize_t n;
	int fd, mfd;

	snprintf(dir, sizeof(dir), "%s", file);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	if (stat(slash != NULL ? dir : ".", &st) == 0 &&
	    !plugin_trusted(slash != NULL ? dir : ".", &st))
		return -1;
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		log_warn("%s: cannot open", file);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_warnx("%s: refused: not a regular file", file);
		close(fd);
		return -1;
	}
	if (!plugin_trusted(file, &st)) {
		close(fd);
		return -1;
	}
	if ((mfd = memfd_create("kefu-plugin", MFD_CLOEXEC)) < 0) {
		log_warn("%s: memfd_create", file);
		close(fd);
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(mfd, buf, n) != n) {
			n = -1;
			break;
		}
	close(fd);
	if (n < 0) {
		log_warn("%s: cannot copy", file);
		close(mfd);
		return -1;
	}
	*memfdp = mfd;
	return 0;
}

static int
plugin_check(const struct plugin *p)
{
	const struct kefu_plugin *d = p->desc;

	if (d->abi_major != KEFU_ABI_MAJOR || d->abi_minor > KEFU_ABI_MINOR) {
		log_warnx(
		    "%s: refused: plugin ABI %u.%u, kefud supports %u.0 to %u.%u",
		    p->file, d->abi_major, d->abi_minor, KEFU_ABI_MAJOR,
		    KEFU_ABI_MAJOR, KEFU_ABI_MINOR);
		return -1;
	}
	if (d->size < offsetof(struct kefu_plugin, fini) + sizeof(d->fini)) {
		log_warnx(
		    "%s: refused: descriptor of %u bytes is too small for ABI %u.%u",
		    p->file, d->size, d->abi_major, d->abi_minor);
		return -1;
	}
	if (d->name == NULL || strcmp(d->name, p->name) != 0) {
		log_warnx(
		    "%s: refused: descriptor names plugin \"%s\", expected \"%s\"",
		    p->file, d->name != NULL ? d->name : "(null)", p->name);
		return -1;
	}
	if (d->version == NULL || d->init == NULL) {
		log_warnx("%s: refused: descriptor without %s", p->file,
		    d->version == NULL ? "a version" : "an init function");
		return -1;
	}
	if (d->timer_ms != 0 && d->timer == NULL) {
		log_warnx("%s: refused: timer_ms without a timer function",
		    p->file);
		return -1;
	}
	return 0;
}

int
plugin_open(struct plugin *p, const char *dir, const char *name)
{
	char file[PATH_MAX], self[64];

	memset(p, 0, sizeof(*p));
	p->memfd = -1;
	snprintf(file, sizeof(file), "%s/%s.so", dir, name);
	if ((p->name = strdup(name)) == NULL ||
	    (p->file = strdup(file)) == NULL)
		fatal("strdup");
	if (plugin_copy(file, &p->memfd) < 0)
		goto fail;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", p->memfd);
	/* RTLD_NOW: an unresolved symbol fails here, not mid-conversation. */
	if ((p->dl = dlopen(self, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		log_warnx("%s: refused: %s", file, dlerror());
		goto fail;
	}
	p->desc = dlsym(p->dl, KEFU_PLUGIN_SYMBOL);
	if (p->desc == NULL) {
		log_warnx(
		    "%s: refused: no descriptor \"%s\" (not a kefu plugin?)",
		    file, KEFU_PLUGIN_SYMBOL);
		goto fail;
	}
	if (plugin_check(p) < 0)
		goto fail;
	return 0;
fail:
	plugin_close(p);
	return -1;
}

int
plugin_init(struct plugin *p, const config_setting_t *section)
{
	int r;

	plugin_enter(p);
	r = p->desc->init(host_table(), (const struct kefu_conf *)section,
	    &p->state);
	plugin_leave();
	if (r != 0) {
		log_warnx("%s: refused: plugin %s %s failed to initialise",
		    p->file, p->name, p->desc->version);
		return -1;
	}
	p->inited = 1;
	return 0;
}

void
plugin_close(struct plugin *p)
{
	plugin_timer_stop(p);
	if (p->inited && p->desc->fini != NULL) {
		plugin_enter(p);
		p->desc->fini(p->state);
		plugin_leave();
	}
	if (p->dl != NULL && dlclose(p->dl) != 0)
		log_warnx("%s: dlclose: %s", p->file, dlerror());
	if (p->memfd >= 0)
		close(p->memfd);
	kv_free(&p->info);
	free(p->name);
	free(p->file);
	memset(p, 0, sizeof(*p));
	p->memfd = -1;
}

static void
plugin_tick(void *arg)
{
	struct plugin *p = arg;

	plugin_enter(p);
	p->desc->timer(p->state);
	plugin_leave();
	loop_timer_set(&p->timer, p->desc->timer_ms, plugin_tick, p);
}

void
plugin_timer_start(struct plugin *p)
{
	if (p->inited && p->desc->timer_ms != 0)
		loop_timer_set(&p->timer, p->desc->timer_ms, plugin_tick, p);
}

void
plugin_timer_stop(struct plugin *p)
{
	loop_timer_cancel(&p->timer);
}

void
plugin_chain_run(struct plugin *set, int n, struct kefu_turn *t,
    const struct kefu_event *ev)
{
	const char *who = NULL;
	enum kefu_verdict v;
	int i, first = -1;

	t->detecting = 1;
	for (i = 0; i < n; i++) {
		if (!plugin_has_detect(&set[i]))
			continue;
		plugin_enter(&set[i]);
		set[i].desc->detect(set[i].state, t, ev);
		plugin_leave();
	}
	t->detecting = 0;
	if (turn_claimed(t, &who) != NULL)
		for (i = 0; i < n && strcmp(set[i].name, who) != 0; i++)
			;
	if (who != NULL && i < n && set[i].desc->handle != NULL) {
		first = i;
		plugin_enter(&set[i]);
		v = set[i].desc->handle(set[i].state, t, ev);
		plugin_leave();
		if (v == KEFU_STOP)
			return;
	}
	for (i = 0; i < n; i++) {
		if (i == first || set[i].desc->handle == NULL)
			continue;
		plugin_enter(&set[i]);
		v = set[i].desc->handle(set[i].state, t, ev);
		plugin_leave();
		if (v == KEFU_STOP)
			break;
	}
}
