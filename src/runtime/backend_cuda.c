/* Loading the CUDA backend (build/libkiln_cuda.so) at run time, only when a CUDA engine is built or run, so libkiln and
 * the kiln CLI carry no CUDA dependency (ldd shows none). Search order: $KILN_CUDA_LIB, the folder of the object holding
 * this code (libkiln.so, or the kiln program when libkiln is linked statically), the folder of the running program. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/status.h"
#include "backend_cuda.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const kiln_cuda_backend_api *loaded;
static char why[1024];

static void *try_open(const char *path, char *tried, size_t cap)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    size_t len = strlen(tried);
    if (!h && len < cap) {
        const char *e = dlerror();
        snprintf(tried + len, cap - len, "%s%.300s (%.200s)", len ? "; " : "", path, e ? e : "not found");
    }
    return h;
}

static void *open_beside(const char *file, char *tried, size_t cap)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (!slash) return NULL;
    *slash = '\0';
    snprintf(path, sizeof path, "%s/libkiln_cuda.so", dir);
    return try_open(path, tried, cap);
}

static void load_once(void)
{
    char tried[900] = "";
    void *h = NULL;
    const char *env = getenv("KILN_CUDA_LIB");
    if (env && *env) h = try_open(env, tried, sizeof tried);
    Dl_info info;
    if (!h && dladdr((void *)&load_once, &info) && info.dli_fname && strchr(info.dli_fname, '/'))
        h = open_beside(info.dli_fname, tried, sizeof tried);
    if (!h) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = '\0';
            h = open_beside(exe, tried, sizeof tried);
        }
    }
    if (!h) {
        snprintf(why, sizeof why,
                 "the CUDA backend libkiln_cuda.so could not be loaded (build it with 'make cuda', or set "
                 "KILN_CUDA_LIB); tried: %s", tried[0] ? tried : "nothing");
        return;
    }
    kiln_cuda_backend_fn fn = (kiln_cuda_backend_fn)dlsym(h, "kiln_cuda_backend");
    const kiln_cuda_backend_api *api = fn ? fn() : NULL;
    if (!api || api->abi != KILN_CUDA_ABI) {
        snprintf(why, sizeof why, "libkiln_cuda.so is %s (expected ABI %d): rebuild it with 'make cuda'",
                 !api ? "missing the symbol kiln_cuda_backend" : "from another kiln version", KILN_CUDA_ABI);
        return;
    }
    loaded = api;
}

kiln_status kiln_cuda_load(const kiln_cuda_backend_api **api)
{
    pthread_once(&once, load_once);
    *api = loaded;
    if (!loaded) return kiln_fail(KILN_ERR_UNSUPPORTED, "%s", why);
    return KILN_OK;
}
