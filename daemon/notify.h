#ifndef KEFU_NOTIFY_H
#define KEFU_NOTIFY_H

/*
 * The service manager (systemd, Type=notify): READY=1 once the
 * configuration and plugins are live, STATUS= with the link state and the
 * conversations, RELOADING=1 around a reload, and WATCHDOG=1 from the
 * event loop while it turns.  Outside systemd all of it does nothing.
 */
void notify_start(void);
void notify_reloading(void);
void notify_reloaded(void);
void notify_stopping(void);
/* STATUS= now (the link changed state). */
void notify_status(void);

#endif
