"""NumPy implementation of cv2.resize(INTER_LINEAR) (half-pixel centres, clamped border, no antialiasing), the
'crop' variant (short side to the target, torchvision-style truncation and centre crop) and the Keras
preprocess_input modes -- the independent reference for kiln's src/image (shared by the tests in this folder)."""
import numpy as np


def axis(n_in, n_resized, offset, n_out):
    s = (np.arange(n_out) + offset + 0.5) * (n_in / n_resized) - 0.5
    s = np.clip(s, 0, n_in - 1)
    i0 = np.floor(s).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, s - i0


def bilinear(src, rh, rw, oy, ox, H, W):
    src = src.astype(np.float64)
    y0, y1, fy = axis(src.shape[0], rh, oy, H)
    x0, x1, fx = axis(src.shape[1], rw, ox, W)
    fx = fx[None, :, None]
    top = src[y0][:, x0] * (1 - fx) + src[y0][:, x1] * fx
    bot = src[y1][:, x0] * (1 - fx) + src[y1][:, x1] * fx
    return top * (1 - fy[:, None, None]) + bot * fy[:, None, None]


def squash(src, H, W):
    return bilinear(src, H, W, 0, 0, H, W)


def crop(src, H, W):
    h, w = src.shape[:2]
    if h * W >= w * H:
        rw, rh = W, h * W // w
    else:
        rh, rw = H, w * H // h
    return bilinear(src, rh, rw, int(round((rh - H) / 2)), int(round((rw - W) / 2)), H, W)


def preprocess(x, mode, channels):
    if channels == 1:
        x = x @ np.array([0.299, 0.587, 0.114])
        x = x[..., None]
    if mode == "tf":
        return x / 127.5 - 1
    if mode == "raw":
        return x
    if mode == "caffe":
        mean = np.array([103.939, 116.779, 123.68])
        if channels == 1:
            return x - mean[::-1] @ np.array([0.299, 0.587, 0.114])
        return x[..., ::-1] - mean
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    if channels == 1:
        lw = np.array([0.299, 0.587, 0.114])
        return (x / 255 - mean @ lw) / (std @ lw)
    return (x / 255 - mean) / std
