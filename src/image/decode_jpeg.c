/* JPEG through libturbojpeg (TurboJPEG 2.x API, as shipped by Debian 12).
 * Default libjpeg settings (accurate integer DCT, fancy upsampling) are what cv2.imread and PIL use too. */
#include <string.h>
#include <turbojpeg.h>

#include "../core/status.h"
#include "decode_internal.h"

kiln_status kiln_decode_jpeg(const uint8_t *data, size_t size, const char *name, kiln_image *out)
{
    if (size > (size_t)0xFFFFFFFFul) return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: JPEG file too large", name);
    tjhandle tj = tjInitDecompress();
    if (!tj) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: cannot create a JPEG decoder: %s", name, tjGetErrorStr2(NULL));

    kiln_status st = KILN_OK;
    int w = 0, h = 0, subsamp = 0, colorspace = 0;
    if (tjDecompressHeader3(tj, data, (unsigned long)size, &w, &h, &subsamp, &colorspace) != 0) {
        st = kiln_fail(KILN_ERR_FORMAT, "%s: corrupt JPEG header: %s", name, tjGetErrorStr2(tj));
        goto done;
    }
    if (w <= 0 || h <= 0) {
        st = kiln_fail(KILN_ERR_FORMAT, "%s: truncated or corrupt JPEG header (no frame size)", name);
        goto done;
    }
    if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
        st = kiln_fail(KILN_ERR_UNSUPPORTED, "%s: CMYK JPEG images are not supported (convert the photo to RGB)", name);
        goto done;
    }
    st = kiln_image_alloc(out, w, h, name);
    if (st != KILN_OK) goto done;
    if (tjDecompress2(tj, data, (unsigned long)size, out->rgb, w, 0, h, TJPF_RGB, 0) != 0) {
        /* libjpeg reports a truncated or damaged scan as a warning and fills the rest with gray: that must not be
         * classified silently. The one harmless warning many camera files trigger ("N extraneous bytes before
         * marker") is accepted, as cv2.imread and PIL accept it. */
        const char *msg = tjGetErrorStr2(tj);
        if (tjGetErrorCode(tj) == TJERR_FATAL)
            st = kiln_fail(KILN_ERR_FORMAT, "%s: corrupt JPEG data: %s", name, msg);
        else if (strstr(msg, "Premature end") || strstr(msg, "premature end"))
            st = kiln_fail(KILN_ERR_TRUNCATED, "%s: truncated JPEG file: %s", name, msg);
        else if (strstr(msg, "extraneous bytes") == NULL)
            st = kiln_fail(KILN_ERR_FORMAT, "%s: damaged JPEG data: %s", name, msg);
    }
done:
    tjDestroy(tj);
    return st;
}
