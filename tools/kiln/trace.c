/* --trace F.json: Chrome trace-event format (the JSON object form, loadable in Perfetto and chrome://tracing).
 * Thread 0 ("runs") has one complete event per traced run, thread 1 ("layers") one per layer, so the layers of a run
 * sit under it on the timeline. Timestamps in microseconds from the first timed run. Schema: docs/BENCH.md. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli.h"

void bench_json_string(void *file, const char *s)
{
    FILE *f = file;
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

int bench_write_trace(const char *path, const bench_result *r)
{
    FILE *f = fopen(path, "w");
    if (!f) return cli_fail("%s: cannot write: %s", path, strerror(errno)), -1;
    fprintf(f, "{\"displayTimeUnit\": \"ms\",\n \"otherData\": {\"tool\": \"kiln bench\", \"version\": 1, \"model\": ");
    bench_json_string(f, r->model);
    fprintf(f, ", \"batch\": %d},\n \"traceEvents\": [\n", r->batch);
    fprintf(f, "  {\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 0, \"args\": {\"name\": \"kiln\"}},\n");
    fprintf(f, "  {\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 0, \"args\": {\"name\": \"runs\"}},\n");
    fprintf(f, "  {\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 1, \"args\": {\"name\": \"layers\"}}");
    /* one span per traced run: from its first layer's start to its last layer's end */
    for (size_t run = 0; run < r->traced_runs; run++) {
        double lo = 0, hi = 0;
        int any = 0;
        for (size_t i = 0; i < r->n_events; i++) {
            const bench_event *e = &r->events[i];
            if ((size_t)e->run != run) continue;
            if (!any || e->start_ms < lo) lo = e->start_ms;
            if (!any || e->start_ms + e->ms > hi) hi = e->start_ms + e->ms;
            any = 1;
        }
        if (any)
            fprintf(f, ",\n  {\"name\": \"run %zu\", \"cat\": \"run\", \"ph\": \"X\", \"pid\": 1, \"tid\": 0, "
                       "\"ts\": %.3f, \"dur\": %.3f, \"args\": {\"batch\": %d}}",
                    run, lo * 1e3, (hi - lo) * 1e3, r->batch);
    }
    for (size_t i = 0; i < r->n_events; i++) {
        const bench_event *e = &r->events[i];
        const bench_layer *l = &r->layers[e->layer];
        fprintf(f, ",\n  {\"name\": ");
        bench_json_string(f, l->name);
        fprintf(f, ", \"cat\": ");
        bench_json_string(f, l->type);
        fprintf(f, ", \"ph\": \"X\", \"pid\": 1, \"tid\": 1, \"ts\": %.3f, \"dur\": %.3f, \"args\": {\"layer\": %d, "
                   "\"run\": %d}}",
                e->start_ms * 1e3, e->ms * 1e3, e->layer, e->run);
    }
    fprintf(f, "\n ]\n}\n");
    return fclose(f) == 0 ? 0 : (cli_fail("%s: write error", path), -1);
}
