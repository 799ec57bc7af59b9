/*
 * Runs a fuzz target over saved inputs, without libFuzzer: make check
 * replays each corpus once, as a regression test (under ASan and UBSan in
 * the second pass).
 *
 *	build/fuzz/TARGET-replay DIR|FILE ...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0, r;

	if (fp == NULL) {
		perror(path);
		exit(1);
	}
	do {
		if (n == cap &&
		    (buf = realloc(buf, cap = cap * 2 + 4096)) == NULL)
			abort();
		r = fread(buf + n, 1, cap - n, fp);
		n += r;
	} while (r > 0);
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 1;
}

int
main(int argc, char *argv[])
{
	char path[4096];
	struct dirent *d;
	struct stat st;
	int i, n = 0;
	DIR *dir;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			n += replay_file(argv[i]);
			continue;
		}
		if ((dir = opendir(argv[i])) == NULL) {
			perror(argv[i]);
			return 1;
		}
		while ((d = readdir(dir)) != NULL) {
			if (d->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i],
			    d->d_name);
			n += replay_file(path);
		}
		closedir(dir);
	}
	printf("%s: %d inputs replayed\n", argv[0], n);
	return n > 0 ? 0 : 1;
}
