/* The Prometheus exposition: one family per name, escaped label values,
 * the standard process metrics. */
#include "../harness.h"

#include "metrics.h"

/* The sample line that starts with prefix. */
static char *
family_line(const char *text, const char *prefix)
{
	char *want, *p;

	cr_assert(asprintf(&want, "\n%s", prefix) > 0);
	p = strstr(text, want);
	free(want);
	cr_assert_not_null(p, "no \"%s\" in:\n%s", prefix, text);
	return strndup(p + 1, strcspn(p + 1, "\n"));
}

Test(metrics, families_are_unique_and_labels_escaped)
{
	char *text, *line, *save = NULL, *copy, types[64][96];
	int ntypes = 0, i, j;

	metrics_start();
	metric_handoff("complaint");
	metric_handoff("complaint");
	/* Longer than a slot holds: not 16 slots of its first 31 bytes. */
	metric_handoff("a_reason_much_longer_than_thirty_two_bytes");
	metric_handoff("a_reason_much_longer_than_thirty_two_bytes");
	metric_handoff("say \"hi\"\\\nnow");
	for (i = 0; i < 20; i++) { /* more reasons than the table holds */
		char r[16];

		snprintf(r, sizeof(r), "r%d", i);
		metric_handoff(r);
	}
	text = metrics_prometheus();
	line = family_line(text, "kefu_handoffs_total{reason=\"complaint\"}");
	cr_expect_str_eq(line, "kefu_handoffs_total{reason=\"complaint\"} 2");
	free(line);
	line = family_line(text, "kefu_handoffs_total{reason=\"say");
	cr_expect_str_eq(line,
	    "kefu_handoffs_total{reason=\"say \\\"hi\\\"\\\\\\nnow\"} 1");
	free(line);
	/* 16 reasons have their own series; the other 6, and the 2 too long
	 * for a slot, are counted too. */
	line = family_line(text, "kefu_handoffs_total{reason=\"other\"}");
	cr_expect_str_eq(line, "kefu_handoffs_total{reason=\"other\"} 8");
	free(line);
	cr_expect_null(strstr(text, "\nkefu_handoffs_total "),
	    "an unlabelled total beside the labelled ones");
	cr_expect_null(strstr(text, "by_reason"));
	cr_expect_null(strstr(text, "_ratio"), "ratios belong in PromQL");

	/* Each family has one TYPE line, and no two share a name (nor a
	 * gauge the name of a counter without its _total). */
	copy = strdup(text);
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[96];

		if (sscanf(line, "# TYPE %95s", name) != 1)
			continue;
		if (strlen(name) > 6 &&
		    strcmp(name + strlen(name) - 6, "_total") == 0)
			name[strlen(name) - 6] = '\0';
		for (j = 0; j < ntypes; j++)
			cr_expect_str_neq(types[j], name, "%s twice", name);
		cr_assert_lt(ntypes, 64);
		snprintf(types[ntypes++], sizeof(types[0]), "%s", name);
	}
	free(copy);
	line = family_line(text, "kefu_build_info{");
	cr_expect(strstr(line, "version=\"") != NULL &&
	        line[strlen(line) - 1] == '1',
	    "%s", line);
	free(line);
	line = family_line(text, "process_resident_memory_bytes ");
	cr_expect_gt(atoll(strchr(line, ' ') + 1), 1 << 20, "%s", line);
	free(line);
	line = family_line(text, "process_open_fds ");
	cr_expect_gt(atoi(strchr(line, ' ') + 1), 2, "%s", line);
	free(line);
	line = family_line(text, "process_start_time_seconds ");
	cr_expect_gt(atof(strchr(line, ' ') + 1), (double)time(NULL) - 60, "%s",
	    line);
	cr_expect_leq(atof(strchr(line, ' ') + 1), (double)time(NULL) + 1, "%s",
	    line);
	free(line);
	free(text);
}
