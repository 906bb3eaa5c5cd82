/* Keras activation names -> kiln activation records (src/core/ops.h). */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "../../core/act.h"
#include "keras_internal.h"

/* The name inside {"class_name": ..., "config": ...}: Keras 3 serializes builtin functions as
 * {"class_name": "function", "config": "relu"}, older files as {"class_name": "relu"} or a custom name. */
static const char *activation_name(const cJSON *act, const cJSON **params)
{
    *params = NULL;
    act = kk_unwrap(act);
    if (cJSON_IsString(act)) return act->valuestring;
    if (!cJSON_IsObject(act)) return NULL;
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(act, "config");
    if (cJSON_IsString(cfg)) return cfg->valuestring;
    *params = cJSON_IsObject(cfg) ? cfg : NULL;
    const char *cls = kk_str(act, "class_name");
    if (cls && *params) {
        const char *inner = kk_str(*params, "name");
        if (inner && (!strcasecmp(cls, "function") || !strcasecmp(cls, "Activation"))) return inner;
    }
    return cls;
}

const char *kk_parse_activation(const kk_ctx *c, const cJSON *act, kiln_act *out, int *softmax)
{
    *softmax = 0;
    *out = kiln_act_make(KILN_ACT_NONE, 0.0f, INFINITY, 0.0f);
    if (!act || cJSON_IsNull(act)) return NULL;
    const cJSON *params;
    const char *name = activation_name(act, &params);
    if (!name) return "activation is neither a name nor a {class_name, config} record";
    double v;
    if (!strcasecmp(name, "linear") || !strcasecmp(name, "identity")) return NULL;
    if (!strcasecmp(name, "relu")) {
        *out = kiln_act_relu();
        return NULL;
    }
    if (!strcasecmp(name, "relu6")) {
        *out = kiln_act_make(KILN_ACT_RELU, 0.0f, 6.0f, 0.0f);
        return NULL;
    }
    if (!strcasecmp(name, "leaky_relu")) { /* Keras 3 string form, negative_slope 0.2 */
        kk_num(params, "negative_slope", 0.2, &v);
        *out = kiln_act_make(KILN_ACT_RELU, (float)v, INFINITY, 0.0f);
        return NULL;
    }
    if (!strcasecmp(name, "sigmoid")) {
        out->kind = KILN_ACT_SIGMOID;
        return NULL;
    }
    if (!strcasecmp(name, "hard_sigmoid")) {
        /* tf.keras 2: clip(0.2x + 0.5); Keras 3: relu6(x + 3) / 6 = clip(x/6 + 0.5). */
        *out = kiln_act_make(KILN_ACT_HARD_SIGMOID, c->keras_major >= 3 ? 1.0f / 6.0f : 0.2f, 0.5f, 0.0f);
        return NULL;
    }
    if (!strcasecmp(name, "swish") || !strcasecmp(name, "silu")) {
        out->kind = KILN_ACT_SWISH;
        return NULL;
    }
    if (!strcasecmp(name, "hard_swish") || !strcasecmp(name, "hard_silu")) {
        out->kind = KILN_ACT_HARD_SWISH;
        return NULL;
    }
    if (!strcasecmp(name, "tanh")) {
        out->kind = KILN_ACT_TANH;
        return NULL;
    }
    if (!strcasecmp(name, "elu")) {
        kk_num(params, "alpha", 1.0, &v);
        *out = kiln_act_make(KILN_ACT_ELU, (float)v, INFINITY, 0.0f);
        return NULL;
    }
    if (!strcasecmp(name, "gelu")) {
        /* keras.activations.gelu defaults to the exact (erf) form in both tf.keras 2 and Keras 3. */
        int approx = kk_bool(params, "approximate", 0);
        *out = kiln_act_make(KILN_ACT_GELU, approx ? 1.0f : 0.0f, INFINITY, 0.0f);
        return NULL;
    }
    if (!strcasecmp(name, "selu")) {
        out->kind = KILN_ACT_SELU;
        return NULL;
    }
    if (!strcasecmp(name, "softplus")) {
        out->kind = KILN_ACT_SOFTPLUS;
        return NULL;
    }
    if (!strcasecmp(name, "softsign")) {
        out->kind = KILN_ACT_SOFTSIGN;
        return NULL;
    }
    if (!strcasecmp(name, "exponential")) {
        out->kind = KILN_ACT_EXP;
        return NULL;
    }
    if (!strcasecmp(name, "softmax")) {
        const cJSON *axis = params ? cJSON_GetObjectItemCaseSensitive(params, "axis") : NULL;
        if (axis && kk_num(params, "axis", -1, &v) && v != -1) return "softmax over an axis other than the last";
        *softmax = 1;
        return NULL;
    }
    return "activation not supported";
}
