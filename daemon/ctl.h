#ifndef KEFU_CTL_H
#define KEFU_CTL_H

struct conf;

/*
 * The control socket (control_socket) that kefuctl talks to, and the
 * metrics endpoint (metrics_listen) when configured.  reload is what a
 * "reload" request runs.  Both are read once, at start.
 */
int ctl_start(const struct conf *c, void (*reload)(void));
void ctl_stop(void);

#endif
