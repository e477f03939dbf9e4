"""cldim: Deep InfoMax encoders trained by cldim, as NumPy feature extractors.

Pure Python over the shared library libcldim (ctypes). The library is looked
up in this order: the file named by $CLDIM_LIBRARY; a libcldim.so* next to
this package; the system loader path (libcldim.so.MAJOR.MINOR, libcldim.so).

    import cldim
    cldim.devices()                                   # [{'name': ..., 'type': 'cpu', ...}]
    enc = cldim.Encoder("enc.safetensors", device="auto")
    y = enc.encode(images, layer="Y")                 # float32 [N, C, S, S] -> [N, 64]
    for feats, labels in enc.extract("data/", layer="Y", split="test"):
        ...

Failures raise cldim.Error (a RuntimeError) carrying the library's message;
.status is the library's status name ("malformed input", ...).
"""
import ctypes
import glob
import json
import os

import numpy as np

__version__ = "0.1.0"
__all__ = ["Encoder", "Error", "devices", "library_path", "LAYERS"]

LAYERS = ("conv", "fc", "Y", "local")

class Error(RuntimeError):
    """A failure reported by libcldim; str() is its message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.code = status
        self.status = _lib.dim_status_name(status).decode()


def _candidates():
    env = os.environ.get("CLDIM_LIBRARY")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    local = sorted(glob.glob(os.path.join(here, "libcldim.so*")))
    major, minor = __version__.split(".")[:2]
    return local + [f"libcldim.so.{major}.{minor}", "libcldim.so"]


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError("cldim: cannot load the shared library libcldim (set CLDIM_LIBRARY to "
                      "its path, or install cldim with `cmake --install`):\n  " +
                      "\n  ".join(errors))


_lib, library_path = _load()
_c = ctypes
_P = _c.c_void_p
_f32p = np.ctypeslib.ndpointer(dtype=np.float32, flags="C_CONTIGUOUS")
_i64p = np.ctypeslib.ndpointer(dtype=np.int64, flags="C_CONTIGUOUS")
for name, res, args in [
    ("cldim_version", _c.c_char_p, []),
    ("dim_status_name", _c.c_char_p, [_c.c_int]),
    ("cldim_devices_json", _c.c_int, [_c.POINTER(_P), _c.c_char_p, _c.c_size_t]),
    ("cldim_free", None, [_P]),
    ("cldim_encoder_open", _c.c_int, [_c.c_char_p, _c.c_char_p, _c.POINTER(_P)]),
    ("cldim_encoder_close", None, [_P]),
    ("cldim_encoder_error", _c.c_char_p, [_P]),
    ("cldim_encoder_arch", _c.c_char_p, [_P]),
    ("cldim_encoder_input", None, [_P, _c.POINTER(_c.c_int), _c.POINTER(_c.c_int)]),
    ("cldim_encoder_device", _c.c_char_p, [_P]),
    ("cldim_encoder_dim", _c.c_int, [_P, _c.c_char_p, _c.POINTER(_c.c_int)]),
    ("cldim_encoder_encode", _c.c_int, [_P, _f32p, _c.c_int, _c.c_char_p, _f32p]),
    ("cldim_stream_open", _c.c_int, [_P, _c.c_char_p, _c.c_char_p, _c.c_char_p, _c.c_size_t,
                                     _c.c_int, _c.POINTER(_P)]),
    ("cldim_stream_close", None, [_P]),
    ("cldim_stream_count", _c.c_size_t, [_P]),
    ("cldim_stream_next", _c.c_int, [_P, _c.c_char_p, _f32p, _i64p, _c.POINTER(_c.c_int)]),
]:
    fn = getattr(_lib, name)
    fn.restype = res
    fn.argtypes = args


def _b(s):
    return None if s is None else os.fsencode(s) if isinstance(s, os.PathLike) else str(s).encode()


def library_version():
    """Version of the loaded libcldim."""
    return _lib.cldim_version().decode()


def devices():
    """Every OpenCL device: a list of dicts (index, id, name, vendor, platform,
    type, version, driver_version, compute_units, global_mem_bytes, ...)."""
    out = _P()
    err = _c.create_string_buffer(4096)
    st = _lib.cldim_devices_json(_c.byref(out), err, len(err))
    if st:
        raise Error(st, err.value.decode(errors="replace"))
    try:
        return json.loads(_c.string_at(out).decode())
    finally:
        _lib.cldim_free(out)


class Encoder:
    """A cldim encoder (an exported encoder from `cldim export`, or a full
    training checkpoint) on an OpenCL device, in evaluation mode.

    device: "auto" (a GPU if there is one), "cpu", "gpu", an index "0", "P:D"
    or a part of the device's name; None uses $CLDIM_DEVICE, then auto."""

    def __init__(self, path, device="auto"):
        self._h = None
        h = _P()
        st = _lib.cldim_encoder_open(_b(os.fspath(path)), _b(device), _c.byref(h))
        if st:
            msg = _lib.cldim_encoder_error(h).decode(errors="replace") if h else ""
            _lib.cldim_encoder_close(h)
            raise Error(st, msg or _lib.dim_status_name(st).decode())
        self._h = h
        self.path = os.fspath(path)
        self.arch = _lib.cldim_encoder_arch(h).decode()
        self.device = _lib.cldim_encoder_device(h).decode()
        c, s = _c.c_int(), _c.c_int()
        _lib.cldim_encoder_input(h, _c.byref(c), _c.byref(s))
        self.input_shape = (c.value, s.value, s.value)

    def _check(self, st):
        if st:
            raise Error(st, _lib.cldim_encoder_error(self._h).decode(errors="replace"))

    def _handle(self):
        if not self._h:
            raise Error(1, "the encoder is closed")
        return self._h

    def dim(self, layer="Y"):
        """Feature width of a representation: "conv", "fc", "Y" or "local"."""
        d = _c.c_int()
        self._check(_lib.cldim_encoder_dim(self._handle(), _b(layer), _c.byref(d)))
        return d.value

    def encode(self, images, layer="Y"):
        """images: float [N, C, S, S] (or one [C, S, S]) preprocessed as in
        training; returns float32 [N, dim(layer)]."""
        h = self._handle()
        x = np.ascontiguousarray(images, dtype=np.float32)
        single = x.ndim == 3
        if single:
            x = x[None]
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            raise ValueError(f"encode: images of shape {np.shape(images)}, encoder {self.arch} "
                             f"wants [N, {', '.join(map(str, self.input_shape))}]")
        out = np.empty((x.shape[0], self.dim(layer)), dtype=np.float32)
        if x.shape[0]:
            self._check(_lib.cldim_encoder_encode(h, x, x.shape[0], _b(layer), out))
        return out[0] if single else out

    def extract(self, path, layer="Y", split=None, format=None, limit=0, batch=256):
        """Stream a dataset split (or an image folder) in file order through
        the encoder: yields (features float32 [n, dim], labels int64 [n]) per
        batch; labels are -1 where the data has none. Images that fail to
        decode are skipped (and logged by the library)."""
        h = self._handle()
        d = self.dim(layer)
        s = _P()
        self._check(_lib.cldim_stream_open(h, _b(os.fspath(path)), _b(format), _b(split),
                                           int(limit), int(batch), _c.byref(s)))
        try:
            feats = np.empty((batch, d), dtype=np.float32)
            labels = np.empty(batch, dtype=np.int64)
            n = _c.c_int()
            while True:
                self._check(_lib.cldim_stream_next(s, _b(layer), feats, labels, _c.byref(n)))
                if n.value == 0:
                    return
                yield feats[:n.value].copy(), labels[:n.value].copy()
        finally:
            _lib.cldim_stream_close(s)

    def close(self):
        if self._h:
            _lib.cldim_encoder_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def __repr__(self):
        return f"cldim.Encoder({self.path!r}, arch={self.arch!r}, device={self.device!r})"
