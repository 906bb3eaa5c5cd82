/* Config value helpers. Keras versions wrap values differently: old Keras stores some numbers as {"value": x} (numpy
 * scalars) and tuples as {"class_name": "__tuple__", "items": [...]}; these helpers see through both. */
#include <math.h>
#include <string.h>

#include "keras_internal.h"

const cJSON *kk_unwrap(const cJSON *v)
{
    for (int depth = 0; v && cJSON_IsObject(v) && depth < 4; depth++) {
        const cJSON *inner = cJSON_GetObjectItemCaseSensitive(v, "value");
        if (!inner) inner = cJSON_GetObjectItemCaseSensitive(v, "items");
        if (!inner) break;
        v = inner;
    }
    return v;
}

const char *kk_str(const cJSON *obj, const char *key)
{
    const cJSON *v = obj ? kk_unwrap(cJSON_GetObjectItemCaseSensitive(obj, key)) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int kk_num(const cJSON *obj, const char *key, double dflt, double *out)
{
    *out = dflt;
    const cJSON *v = obj ? kk_unwrap(cJSON_GetObjectItemCaseSensitive(obj, key)) : NULL;
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1) v = kk_unwrap(cJSON_GetArrayItem(v, 0));
    if (!cJSON_IsNumber(v)) return 0;
    *out = v->valuedouble;
    return 1;
}

int kk_bool(const cJSON *obj, const char *key, int dflt)
{
    const cJSON *v = obj ? kk_unwrap(cJSON_GetObjectItemCaseSensitive(obj, key)) : NULL;
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    if (cJSON_IsNumber(v)) return v->valuedouble != 0;
    return dflt;
}

const cJSON *kk_list(const cJSON *v)
{
    v = kk_unwrap(v);
    return cJSON_IsArray(v) ? v : NULL;
}

int kk_ints(const cJSON *obj, const char *key, int n, int dflt, int *out)
{
    for (int i = 0; i < n; i++) out[i] = dflt;
    const cJSON *v = obj ? kk_unwrap(cJSON_GetObjectItemCaseSensitive(obj, key)) : NULL;
    if (!v || cJSON_IsNull(v)) return 1;
    if (cJSON_IsNumber(v)) {
        for (int i = 0; i < n; i++) out[i] = (int)v->valuedouble;
        return 0;
    }
    const cJSON *l = kk_list(v);
    if (!l) return -1;
    int len = cJSON_GetArraySize(l);
    if (len == 1) {
        const cJSON *e = kk_unwrap(cJSON_GetArrayItem(l, 0));
        if (!cJSON_IsNumber(e)) return -1;
        for (int i = 0; i < n; i++) out[i] = (int)e->valuedouble;
        return 0;
    }
    if (len != n) return -1;
    for (int i = 0; i < n; i++) {
        const cJSON *e = kk_unwrap(cJSON_GetArrayItem(l, i));
        if (!cJSON_IsNumber(e)) return -1;
        out[i] = (int)e->valuedouble;
    }
    return 0;
}
