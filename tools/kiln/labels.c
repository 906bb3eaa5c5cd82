/* Class labels for `kiln predict`: one label per line, line i = class i (synset_words.txt format or plain names).
 * Looked up in order: --labels FILE, $KILN_LABELS, <dir of the kiln executable>/share/kiln/synset_words.txt
 * (written by `make labels` from Debian's darknet + WordNet data; see scripts/make_labels.sh). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Read the file; returns 0, or -1 with errno-style text in *why. */
static int read_labels(const char *path, cli_labels *out, const char **why)
{
    struct stat sb;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *why = strerror(errno);
        return -1;
    }
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > (64 << 20)) {
        fclose(f);
        *why = "not a regular file of at most 64 MiB";
        return -1;
    }
    size_t size = (size_t)sb.st_size;
    char *text = malloc(size + 1);
    if (!text || fread(text, 1, size, f) != size) {
        free(text);
        fclose(f);
        *why = "read error";
        return -1;
    }
    fclose(f);
    text[size] = '\0';
    /* Drop trailing blank lines; every other line is one class, even if empty. */
    while (size > 0 && (text[size - 1] == '\n' || text[size - 1] == '\r')) text[--size] = '\0';
    int n = size > 0 ? 1 : 0;
    for (size_t i = 0; i < size; i++) n += text[i] == '\n';
    char **line = malloc(sizeof(char *) * (size_t)(n > 0 ? n : 1));
    if (!line) {
        free(text);
        *why = "out of memory";
        return -1;
    }
    char *p = text;
    for (int i = 0; i < n; i++) {
        line[i] = p;
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        size_t len = strlen(p);
        if (len > 0 && p[len - 1] == '\r') p[len - 1] = '\0';
        p = nl ? nl + 1 : p + len;
    }
    out->text = text;
    out->line = line;
    out->n = n;
    snprintf(out->path, sizeof out->path, "%s", path);
    return 0;
}

int cli_labels_load(const char *explicit_path, cli_labels *out)
{
    memset(out, 0, sizeof *out);
    const char *why = NULL;
    const char *env = getenv("KILN_LABELS");
    const char *asked = explicit_path ? explicit_path : (env && *env ? env : NULL);
    if (asked) {
        if (read_labels(asked, out, &why) != 0)
            return cli_fail("%s: cannot read label file%s: %s", asked, explicit_path ? "" : " ($KILN_LABELS)", why);
        return CLI_OK;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return CLI_OK;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return CLI_OK;
    *slash = '\0';
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/share/kiln/synset_words.txt", exe);
    if (read_labels(path, out, &why) != 0) memset(out, 0, sizeof *out);
    return CLI_OK;
}

void cli_labels_free(cli_labels *l)
{
    free(l->text);
    free(l->line);
    memset(l, 0, sizeof *l);
}

const char *cli_label(const cli_labels *l, int64_t classes, int64_t index)
{
    if (l->n == 0 || index < 0 || index >= classes) return NULL;
    if (classes == l->n) return l->line[index];
    if (classes == 1001 && l->n == 1000) return index == 0 ? "background" : l->line[index - 1];
    return NULL;
}
