/* Integer kernels of the exact entropy-decoding path (bitstream formats 3-4), one pass each.
 *
 * Why: at a 256^2 chunk's sizes the entropy decode is held back by what surrounds the int8 products,
 * not by them: the rescale of every layer is ~9 element-wise torch passes over int64, and
 * compressai's rANS decoder takes and returns Python lists (every symbol and index converted
 * twice). Both are integer arithmetic, so a C loop gives exactly the integers of the torch/compressai
 * path on every machine and compiler; tests/test_native_kernels.py checks that it does.
 *
 *   rescale     floor((acc*M_c + B_c) / 2^R_c) -> [LeakyReLU] -> clip, as Int8Conv.finish
 *   digits      a -> (hi, lo) int8 with a = 128*hi + lo, as int8_nets.digits
 *   rans_init / rans_decode
 *               compressai's Rans64 decoder (16-bit probabilities, 4-bit bypass for values outside
 *               a CDF), over int32 arrays, stateful across coding stages like RansDecoder.decode_stream;
 *               unlike it, it refuses to read past the end of the stream.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


static int get(PyObject *o, Py_buffer *b, int writable, Py_ssize_t itemsize, const char *what) {
    if (PyObject_GetBuffer(o, b, (writable ? PyBUF_WRITABLE : 0) | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (itemsize && b->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: expected items of %zd bytes", what, itemsize);
        PyBuffer_Release(b);
        return -1;
    }
    return 0;
}

/* Signed >> is arithmetic (floor) on every compiler geocodec builds with; refuse to build otherwise. */
_Static_assert((-5 >> 1) == -3, "the rescale needs an arithmetic right shift");

/* Each rescale loop is compiled for AVX-512, AVX2 and the baseline ISA, and the CPU's best is picked
 * when the module loads (``isa``): integer arithmetic, so every version gives the same integers.
 * (gcc's target_clones("arch=...") would dispatch on the CPU model, not its features.) */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define X86_VERSIONS 1
#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl")))
#define AVX2 __attribute__((target("avx2")))
#endif
static int isa = 0; /* 2: AVX-512 (F, DQ, BW, VL), 1: AVX2, 0: baseline */

typedef struct {
    const int64_t *mult, *bias, *shift;
    int64_t slope_num, slope_shift, pre_lo, pre_hi, out_lo, out_hi;
    Py_ssize_t items, channels, per_item;
} Rescale;

#define RESCALE_BODY(NAME, ATTR, T_IN, T_OUT, LEAKY)                                                \
    ATTR static void NAME(const T_IN *__restrict acc, T_OUT *__restrict out, const Rescale *r) {   \
        const int64_t sn = r->slope_num, ss = r->slope_shift, plo = r->pre_lo, phi = r->pre_hi;     \
        const int64_t olo = r->out_lo, ohi = r->out_hi;                                             \
        const Py_ssize_t channels = r->channels, per_item = r->per_item;                            \
        for (Py_ssize_t it = 0; it < r->items; ++it)                                                \
            for (Py_ssize_t c = 0; c < channels; ++c) {                                             \
                const Py_ssize_t base = (it * channels + c) * per_item;                             \
                const int64_t mc = r->mult[c], bc = r->bias[c], rc = r->shift[c];                  \
                const T_IN *__restrict x = acc + base;                                              \
                T_OUT *__restrict o = out + base;                                                   \
                for (Py_ssize_t p = 0; p < per_item; ++p) {                                         \
                    /* |x·M + B| < 2^53: asserted per channel by Int8Conv */                        \
                    int64_t a = ((int64_t)x[p] * mc + bc) >> rc;                                    \
                    if (LEAKY) {                                                                    \
                        a = a < plo ? plo : a;                                                      \
                        a = a > phi ? phi : a;                                                      \
                        const int64_t l = (a * sn) >> ss;                                           \
                        a = l > a ? l : a;                                                          \
                    }                                                                               \
                    a = a < olo ? olo : a;                                                          \
                    a = a > ohi ? ohi : a;                                                          \
                    o[p] = (T_OUT)a;                                                                \
                }                                                                                   \
            }                                                                                       \
    }

#ifdef X86_VERSIONS
#define RESCALE_LOOP(NAME, T_IN, T_OUT, LEAKY)                                                      \
    RESCALE_BODY(NAME##_avx512, AVX512, T_IN, T_OUT, LEAKY)                                         \
    RESCALE_BODY(NAME##_avx2, AVX2, T_IN, T_OUT, LEAKY)                                             \
    RESCALE_BODY(NAME##_base, , T_IN, T_OUT, LEAKY)                                                 \
    static void NAME(const T_IN *acc, T_OUT *out, const Rescale *r) {                               \
        if (isa == 2) NAME##_avx512(acc, out, r);                                                   \
        else if (isa == 1) NAME##_avx2(acc, out, r);                                                \
        else NAME##_base(acc, out, r);                                                              \
    }
#else
#define RESCALE_LOOP(NAME, T_IN, T_OUT, LEAKY) RESCALE_BODY(NAME, , T_IN, T_OUT, LEAKY)
#endif

RESCALE_LOOP(rescale_i32_i16, int32_t, int16_t, 0)
RESCALE_LOOP(rescale_i32_i16_leaky, int32_t, int16_t, 1)
RESCALE_LOOP(rescale_i32_f64, int32_t, double, 0)
RESCALE_LOOP(rescale_i32_f64_leaky, int32_t, double, 1)
RESCALE_LOOP(rescale_i64_i16, int64_t, int16_t, 0)
RESCALE_LOOP(rescale_i64_i16_leaky, int64_t, int16_t, 1)
RESCALE_LOOP(rescale_i64_f64, int64_t, double, 0)
RESCALE_LOOP(rescale_i64_f64_leaky, int64_t, double, 1)

/* rescale(acc, acc_itemsize, channels, per_item, mult, bias, shift, mode, slope_num, slope_shift,
 *         pre_lo, pre_hi, out_lo, out_hi, out)
 * acc: (N, C, P) (P = per_item) int32 (itemsize 4) or int64 (8); mult/bias/shift: int64 (C,);
 * mode 0: floor((acc·M + B) / 2^R), clip to [out_lo, out_hi] -> int16;
 *      1: ... clip to [pre_lo, pre_hi], LeakyReLU, clip -> int16;  2, 3: as 0, 1 -> float64. */
static PyObject *rescale(PyObject *self, PyObject *args) {
    PyObject *o_acc, *o_m, *o_b, *o_s, *o_out;
    Py_ssize_t isz, channels, per_item;
    int mode;
    long long slope_num, slope_shift, pre_lo, pre_hi, out_lo, out_hi;
    if (!PyArg_ParseTuple(args, "OnnnOOOiLLLLLLO", &o_acc, &isz, &channels, &per_item, &o_m, &o_b, &o_s, &mode,
                          &slope_num, &slope_shift, &pre_lo, &pre_hi, &out_lo, &out_hi, &o_out))
        return NULL;
    Py_buffer acc, m, b, s, out;
    if (get(o_acc, &acc, 0, 0, "acc") < 0) return NULL;
    if (get(o_m, &m, 0, 8, "mult") < 0) { PyBuffer_Release(&acc); return NULL; }
    if (get(o_b, &b, 0, 8, "bias") < 0) { PyBuffer_Release(&acc); PyBuffer_Release(&m); return NULL; }
    if (get(o_s, &s, 0, 8, "shift") < 0) { PyBuffer_Release(&acc); PyBuffer_Release(&m); PyBuffer_Release(&b); return NULL; }
    if (get(o_out, &out, 1, 0, "out") < 0) {
        PyBuffer_Release(&acc); PyBuffer_Release(&m); PyBuffer_Release(&b); PyBuffer_Release(&s); return NULL;
    }
    PyObject *ret = NULL;
    const Py_ssize_t n = (isz == 4 || isz == 8) ? acc.len / isz : -1;
    const Py_ssize_t osz = (mode >= 2) ? 8 : 2;
    if (n < 0 || mode < 0 || mode > 3 || channels <= 0 || per_item <= 0 || m.len != 8 * channels
        || b.len != 8 * channels || s.len != 8 * channels || out.len != n * osz || n % (channels * per_item)) {
        PyErr_SetString(PyExc_ValueError, "rescale: inconsistent sizes");
        goto done;
    }
    {
        const Rescale r = {(const int64_t *)m.buf, (const int64_t *)b.buf, (const int64_t *)s.buf,
                           slope_num, slope_shift, pre_lo, pre_hi, out_lo, out_hi,
                           n / (channels * per_item), channels, per_item};
        Py_BEGIN_ALLOW_THREADS
        if (isz == 4) {
            const int32_t *a = (const int32_t *)acc.buf;
            if (mode == 0) rescale_i32_i16(a, out.buf, &r);
            else if (mode == 1) rescale_i32_i16_leaky(a, out.buf, &r);
            else if (mode == 2) rescale_i32_f64(a, out.buf, &r);
            else rescale_i32_f64_leaky(a, out.buf, &r);
        } else {
            const int64_t *a = (const int64_t *)acc.buf;
            if (mode == 0) rescale_i64_i16(a, out.buf, &r);
            else if (mode == 1) rescale_i64_i16_leaky(a, out.buf, &r);
            else if (mode == 2) rescale_i64_f64(a, out.buf, &r);
            else rescale_i64_f64_leaky(a, out.buf, &r);
        }
        Py_END_ALLOW_THREADS
    }
    Py_INCREF(Py_None);
    ret = Py_None;
done:
    PyBuffer_Release(&acc); PyBuffer_Release(&m); PyBuffer_Release(&b); PyBuffer_Release(&s); PyBuffer_Release(&out);
    return ret;
}

/* One channel's digits, and its number of nonzero hi digits (a count per element: vectorises). */
#define DIGITS_BODY(NAME, ATTR)                                                                     \
    ATTR static Py_ssize_t NAME(const int16_t *__restrict x, int8_t *__restrict hi, int8_t *__restrict lo, \
                                Py_ssize_t n) {                                                     \
        int32_t nz = 0; /* n < 2^31 per channel */                                                  \
        for (Py_ssize_t i = 0; i < n; ++i) {                                                        \
            const int16_t h = (int16_t)((x[i] + 64) >> 7);                                          \
            hi[i] = (int8_t)h;                                                                      \
            lo[i] = (int8_t)(x[i] - 128 * h);                                                       \
            nz += h != 0;                                                                           \
        }                                                                                           \
        return nz;                                                                                  \
    }
#ifdef X86_VERSIONS
DIGITS_BODY(split_digits_avx512, AVX512)
DIGITS_BODY(split_digits_avx2, AVX2)
DIGITS_BODY(split_digits_base, )
static Py_ssize_t split_digits(const int16_t *x, int8_t *hi, int8_t *lo, Py_ssize_t n) {
    if (isa == 2) return split_digits_avx512(x, hi, lo, n);
    if (isa == 1) return split_digits_avx2(x, hi, lo, n);
    return split_digits_base(x, hi, lo, n);
}
#else
DIGITS_BODY(split_digits, )
#endif

/* digits(a int16 (n,), out int8 (2n,)[, C, counts int64 (C,)]) -> the number of nonzero hi digits:
 * out[:n] = hi = floor((a + 64) / 128), out[n:] = lo = a - 128*hi; with C and counts, a is C channels
 * of n / C values, counts[c] receives channel c's number of nonzero hi digits, and the result is
 * (that number, the number of channels with any) */
static PyObject *digits(PyObject *self, PyObject *args) {
    PyObject *o_a, *o_out, *o_cnt = NULL;
    Py_ssize_t C = 1;
    if (!PyArg_ParseTuple(args, "OO|nO", &o_a, &o_out, &C, &o_cnt)) return NULL;
    Py_buffer a, out, cnt = {0};
    if (get(o_a, &a, 0, 2, "a") < 0) return NULL;
    if (get(o_out, &out, 1, 1, "out") < 0) { PyBuffer_Release(&a); return NULL; }
    if (o_cnt && get(o_cnt, &cnt, 1, 8, "counts") < 0) { PyBuffer_Release(&a); PyBuffer_Release(&out); return NULL; }
    Py_ssize_t n = a.len / 2;
    if (out.len != 2 * n || C <= 0 || n % C || (o_cnt && cnt.len != 8 * C)) {
        PyErr_SetString(PyExc_ValueError, "digits: out must hold 2 * len(a) int8, counts C int64, C divide len(a)");
        PyBuffer_Release(&a); PyBuffer_Release(&out);
        if (o_cnt) PyBuffer_Release(&cnt);
        return NULL;
    }
    const int16_t *x = (const int16_t *)a.buf;
    int8_t *hi = (int8_t *)out.buf, *lo = hi + n;
    int64_t *counts = o_cnt ? (int64_t *)cnt.buf : NULL;
    const Py_ssize_t run = n / C;
    Py_ssize_t nonzero = 0, channels = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t c = 0; c < C; ++c) {
        const Py_ssize_t nz = split_digits(x + c * run, hi + c * run, lo + c * run, run);
        if (counts) counts[c] = nz;
        nonzero += nz;
        channels += nz != 0;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&a); PyBuffer_Release(&out);
    if (!o_cnt) return PyLong_FromSsize_t(nonzero);
    PyBuffer_Release(&cnt);
    return Py_BuildValue("nn", nonzero, channels);
}

/* shift_input(a f64 (n,) holding integers, shift, lo, hi, out int16 (n,)):
 * out = clip(floor((a + 2^(shift-1)) / 2^shift), lo, hi), as int8_nets.from_out_frac: ŷ and the
 * means (OUT_FRAC fraction bits) as layer inputs (IN_FRAC), in one pass instead of five. */
static PyObject *shift_input(PyObject *self, PyObject *args) {
    PyObject *o_a, *o_out;
    int shift;
    long long lo, hi;
    if (!PyArg_ParseTuple(args, "OiLLO", &o_a, &shift, &lo, &hi, &o_out)) return NULL;
    Py_buffer a, out;
    if (get(o_a, &a, 0, 8, "a") < 0) return NULL;
    if (get(o_out, &out, 1, 2, "out") < 0) { PyBuffer_Release(&a); return NULL; }
    const Py_ssize_t n = a.len / 8;
    if (out.len != 2 * n || shift < 1 || shift > 40 || lo > hi || lo < INT16_MIN || hi > INT16_MAX) {
        PyBuffer_Release(&a); PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "shift_input: inconsistent sizes or range");
        return NULL;
    }
    const double *x = (const double *)a.buf;
    int16_t *o = (int16_t *)out.buf;
    const int64_t half = (int64_t)1 << (shift - 1);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; ++i) {
        int64_t v = ((int64_t)x[i] + half) >> shift;  /* x holds an integer below 2^53: exact */
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        o[i] = (int16_t)v;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&a); PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

/* im2col(x int8 (D, C, H, W), kh, kw, stride, oy, ox, ho, wo, out int8 (D, C*kh*kw, ho*wo)):
 * out[d, (c*kh + dy)*kw + dx, i*wo + j] = x[d, c, oy + dy + stride*i, ox + dx + stride*j],
 * torch's ``unfold`` order over the grid starting at (oy, ox); a copy, so exact by construction. */
static PyObject *im2col(PyObject *self, PyObject *args) {
    PyObject *o_x, *o_out;
    Py_ssize_t D, C, H, W, kh, kw, st, oy, ox, ho, wo;
    if (!PyArg_ParseTuple(args, "OnnnnnnnnnnnO", &o_x, &D, &C, &H, &W, &kh, &kw, &st, &oy, &ox, &ho, &wo, &o_out))
        return NULL;
    Py_buffer x, out;
    if (get(o_x, &x, 0, 1, "x") < 0) return NULL;
    if (get(o_out, &out, 1, 1, "out") < 0) { PyBuffer_Release(&x); return NULL; }
    if (D <= 0 || C <= 0 || kh <= 0 || kw <= 0 || st <= 0 || ho <= 0 || wo <= 0 || oy < 0 || ox < 0
        || x.len != D * C * H * W || out.len != D * C * kh * kw * ho * wo
        || oy + kh - 1 + st * (ho - 1) >= H || ox + kw - 1 + st * (wo - 1) >= W) {
        PyBuffer_Release(&x); PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "im2col: inconsistent sizes");
        return NULL;
    }
    const int8_t *src = (const int8_t *)x.buf;
    int8_t *dst = (int8_t *)out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t d = 0; d < D * C; ++d) {  /* (d, c) planes in order */
        const int8_t *plane = src + d * H * W;
        for (Py_ssize_t dy = 0; dy < kh; ++dy)
            for (Py_ssize_t dx = 0; dx < kw; ++dx) {
                for (Py_ssize_t i = 0; i < ho; ++i) {
                    const int8_t *row = plane + (oy + dy + st * i) * W + ox + dx;
                    if (st == 1) {
                        memcpy(dst, row, (size_t)wo);
                    } else {
                        for (Py_ssize_t j = 0; j < wo; ++j) dst[j] = row[st * j];
                    }
                    dst += wo;
                }
            }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x); PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

/* im2col_checkerboard(x int8 (D, C, H, W), kh, kw, parity, ho, wo, out int8 (D, C*kh*kw, ho*wo/2)):
 * im2col of a stride-1 convolution (x already padded) at the output positions (r, s) with
 * (r + s) % 2 == parity only, in row-major order: the checkerboard stage's positions in the order
 * its symbols are coded, so one product gives them all (no per-grid products to interleave). */
static PyObject *im2col_checkerboard(PyObject *self, PyObject *args) {
    PyObject *o_x, *o_out;
    Py_ssize_t D, C, H, W, kh, kw, parity, ho, wo;
    if (!PyArg_ParseTuple(args, "OnnnnnnnnnO", &o_x, &D, &C, &H, &W, &kh, &kw, &parity, &ho, &wo, &o_out))
        return NULL;
    Py_buffer x, out;
    if (get(o_x, &x, 0, 1, "x") < 0) return NULL;
    if (get(o_out, &out, 1, 1, "out") < 0) { PyBuffer_Release(&x); return NULL; }
    if (D <= 0 || C <= 0 || kh <= 0 || kw <= 0 || ho <= 0 || wo <= 0 || wo % 2 || (parity != 0 && parity != 1)
        || x.len != D * C * H * W || out.len != D * C * kh * kw * ho * (wo / 2)
        || kh - 1 + ho - 1 >= H || kw - 1 + wo - 1 >= W) {
        PyBuffer_Release(&x); PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "im2col_checkerboard: inconsistent sizes");
        return NULL;
    }
    const int8_t *src = (const int8_t *)x.buf;
    int8_t *dst = (int8_t *)out.buf;
    const Py_ssize_t half = wo / 2;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t d = 0; d < D * C; ++d) {
        const int8_t *plane = src + d * H * W;
        for (Py_ssize_t dy = 0; dy < kh; ++dy)
            for (Py_ssize_t dx = 0; dx < kw; ++dx)
                for (Py_ssize_t r = 0; r < ho; ++r) {
                    const int8_t *row = plane + (r + dy) * W + dx + ((parity + r) & 1);  /* first s of row r */
                    for (Py_ssize_t j = 0; j < half; ++j) dst[j] = row[2 * j];
                    dst += half;
                }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x); PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

/* sparse_accumulate(acc (out, ho*wo) int32 (isz 4) or int64 (8), isz, w int8 (out, C*kh*kw),
 *                   x int8 (C, H, W), C, H, W, kh, kw, stride, oy, ox, ho, wo, scale):
 * acc += scale * (the convolution of x over the grid starting at (oy, ox)), term by term from x's
 * nonzero entries only: for a plane that is almost all zero (the hi digits of the hyper-synthesis)
 * this is the same integer sum as im2col + product, without either. */
typedef struct {
    Py_ssize_t col, tap;
    int64_t v;
} Term;

/* The nonzero entries' terms (output column, weight column, value): zero 8-byte words skipped. */
static Py_ssize_t collect_terms(const int8_t *src, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t kh,
                                Py_ssize_t kw, Py_ssize_t st, Py_ssize_t oy, Py_ssize_t ox, Py_ssize_t ho,
                                Py_ssize_t wo, Term *terms, Py_ssize_t cap) {
    const Py_ssize_t n = C * H * W;
    Py_ssize_t t = 0;
    for (Py_ssize_t i0 = 0; i0 < n; i0 += 8) {
        if (i0 + 8 <= n) {
            uint64_t word;
            memcpy(&word, src + i0, 8);
            if (!word) continue;
        }
        for (Py_ssize_t i = i0; i < n && i < i0 + 8; ++i) {
            if (!src[i]) continue;
            const Py_ssize_t c = i / (H * W), y = (i / W) % H, x = i % W;
            for (Py_ssize_t dy = 0; dy < kh; ++dy) {
                const Py_ssize_t ry = y - oy - dy;
                if (ry < 0 || ry % st || ry / st >= ho) continue;
                for (Py_ssize_t dx = 0; dx < kw; ++dx) {
                    const Py_ssize_t rx = x - ox - dx;
                    if (rx < 0 || rx % st || rx / st >= wo) continue;
                    if (t == cap) return -1;
                    terms[t].col = (ry / st) * wo + rx / st;
                    terms[t].tap = (c * kh + dy) * kw + dx;
                    terms[t].v = src[i];
                    ++t;
                }
            }
        }
    }
    return t;
}

/* Row by row of acc (one output channel's P sums, in cache), every term added. */
#define SCATTER(T)                                                                                  \
    for (Py_ssize_t o = 0; o < outs; ++o) {                                                         \
        T *a = (T *)acc.buf + o * P;                                                                \
        const int8_t *wo_ = wt + o * K;                                                             \
        for (Py_ssize_t t = 0; t < nterms; ++t)                                                     \
            a[terms[t].col] += (T)(scale * terms[t].v * wo_[terms[t].tap]);                         \
    }

static PyObject *sparse_accumulate(PyObject *self, PyObject *args) {
    PyObject *o_acc, *o_w, *o_x;
    Py_ssize_t isz, C, H, W, kh, kw, st, oy, ox, ho, wo;
    long long scale;
    if (!PyArg_ParseTuple(args, "OnOOnnnnnnnnnnL", &o_acc, &isz, &o_w, &o_x, &C, &H, &W, &kh, &kw, &st, &oy, &ox,
                          &ho, &wo, &scale))
        return NULL;
    Py_buffer acc, w, x;
    if (get(o_acc, &acc, 1, 0, "acc") < 0) return NULL;
    if (get(o_w, &w, 0, 1, "w") < 0) { PyBuffer_Release(&acc); return NULL; }
    if (get(o_x, &x, 0, 1, "x") < 0) { PyBuffer_Release(&acc); PyBuffer_Release(&w); return NULL; }
    const Py_ssize_t K = C * kh * kw, P = ho * wo;
    const Py_ssize_t outs = (K > 0 && P > 0 && (isz == 4 || isz == 8)) ? w.len / K : 0;
    if (outs <= 0 || w.len != outs * K || acc.len != outs * P * isz || x.len != C * H * W || st <= 0
        || oy < 0 || ox < 0) {
        PyBuffer_Release(&acc); PyBuffer_Release(&w); PyBuffer_Release(&x);
        PyErr_SetString(PyExc_ValueError, "sparse_accumulate: inconsistent sizes");
        return NULL;
    }
    const int8_t *src = (const int8_t *)x.buf, *wt = (const int8_t *)w.buf;
    /* room for every term of a plane with up to 1/16 nonzero entries; a denser one is refused */
    const Py_ssize_t cap = (C * H * W / 16 + 16) * kh * kw;
    Term *terms = (Term *)PyMem_Malloc((size_t)cap * sizeof(Term));
    if (!terms) { PyBuffer_Release(&acc); PyBuffer_Release(&w); PyBuffer_Release(&x); return PyErr_NoMemory(); }
    Py_ssize_t nterms;
    Py_BEGIN_ALLOW_THREADS
    nterms = collect_terms(src, C, H, W, kh, kw, st, oy, ox, ho, wo, terms, cap);
    if (nterms > 0) {
        if (isz == 4) { SCATTER(int32_t) } else { SCATTER(int64_t) }
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(terms);
    PyBuffer_Release(&acc); PyBuffer_Release(&w); PyBuffer_Release(&x);
    if (nterms < 0) {
        PyErr_SetString(PyExc_ValueError, "sparse_accumulate: the plane is too dense for the sparse path");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* #{t < s} for every s, as sums of comparisons over the thresholds for blocks of scales: the
 * compiler vectorises across the block (no data-dependent branch or load), about 6x faster than a
 * binary search here; the same counts, so the same indexes, on every ISA. */
#define COUNT_BODY(NAME, ATTR)                                                                      \
    ATTR static void NAME(const double *__restrict s, Py_ssize_t n, const double *__restrict t,     \
                          Py_ssize_t T, int32_t *__restrict o) {                                    \
        enum { B = 64 };                                                                            \
        for (Py_ssize_t i0 = 0; i0 < n; i0 += B) {                                                  \
            const Py_ssize_t m = n - i0 < B ? n - i0 : B;                                           \
            int32_t cnt[B] = {0};                                                                   \
            for (Py_ssize_t j = 0; j < T; ++j) {                                                    \
                const double tj = t[j];                                                             \
                for (Py_ssize_t b = 0; b < m; ++b) cnt[b] += tj < s[i0 + b];                        \
            }                                                                                       \
            memcpy(o + i0, cnt, (size_t)m * sizeof(int32_t));                                       \
        }                                                                                           \
    }

#ifdef X86_VERSIONS
COUNT_BODY(count_below_avx512, AVX512)
COUNT_BODY(count_below_avx2, AVX2)
COUNT_BODY(count_below_base, )
static void count_below(const double *s, Py_ssize_t n, const double *t, Py_ssize_t T, int32_t *o) {
    if (isa == 2) count_below_avx512(s, n, t, T, o);
    else if (isa == 1) count_below_avx2(s, n, t, T, o);
    else count_below_base(s, n, t, T, o);
}
#else
COUNT_BODY(count_below, )
#endif

/* scale_indexes(scales f64 (n,), thresholds f64 (T,) ascending, out int32 (n,)):
 * out[i] = #{t : thresholds[t] < scales[i]}, torch.searchsorted(thresholds, scales) (left); the
 * scales and thresholds are integers held in float64, so every comparison is exact. */
static PyObject *scale_indexes(PyObject *self, PyObject *args) {
    PyObject *o_s, *o_t, *o_out;
    if (!PyArg_ParseTuple(args, "OOO", &o_s, &o_t, &o_out)) return NULL;
    Py_buffer sc, th, out;
    if (get(o_s, &sc, 0, 8, "scales") < 0) return NULL;
    if (get(o_t, &th, 0, 8, "thresholds") < 0) { PyBuffer_Release(&sc); return NULL; }
    if (get(o_out, &out, 1, 4, "out") < 0) { PyBuffer_Release(&sc); PyBuffer_Release(&th); return NULL; }
    const Py_ssize_t n = sc.len / 8, T = th.len / 8;
    if (out.len != 4 * n || T <= 0) {
        PyBuffer_Release(&sc); PyBuffer_Release(&th); PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "scale_indexes: inconsistent sizes");
        return NULL;
    }
    const double *s = (const double *)sc.buf, *t = (const double *)th.buf;
    int32_t *o = (int32_t *)out.buf;
    Py_BEGIN_ALLOW_THREADS
    count_below(s, n, t, T, o);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&sc); PyBuffer_Release(&th); PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ rANS (compressai's layout) */
#define RANS64_L (1ull << 31)
#define PRECISION 16
#define BYPASS_PRECISION 4
#define MAX_BYPASS_VAL ((1 << BYPASS_PRECISION) - 1)

typedef struct {
    uint64_t x;
    const uint8_t *ptr, *end;
} Dec;

static inline int next_word(Dec *d, uint32_t *w) {
    if (d->end - d->ptr < 4) return -1;
    memcpy(w, d->ptr, 4);  /* compressai writes native-endian 32-bit words */
    d->ptr += 4;
    return 0;
}

static inline int get_bits(Dec *d, uint32_t nbits, uint32_t *val) {
    uint64_t x = d->x;
    *val = (uint32_t)(x & ((1u << nbits) - 1));
    x >>= nbits;
    if (x < RANS64_L) {
        uint32_t w;
        if (next_word(d, &w) < 0) return -1;
        x = (x << 32) | w;
    }
    d->x = x;
    return 0;
}

/* rans_init(stream) -> state bytes (x, position) for rans_decode */
static PyObject *rans_init(PyObject *self, PyObject *args) {
    Py_buffer st;
    if (!PyArg_ParseTuple(args, "y*", &st)) return NULL;
    if (st.len < 8) {
        PyBuffer_Release(&st);
        PyErr_SetString(PyExc_ValueError, "rANS stream shorter than its 8-byte state");
        return NULL;
    }
    uint32_t w0, w1;
    memcpy(&w0, st.buf, 4);
    memcpy(&w1, (const uint8_t *)st.buf + 4, 4);
    PyBuffer_Release(&st);
    return Py_BuildValue("(Kn)", (unsigned long long)((uint64_t)w0 | ((uint64_t)w1 << 32)), (Py_ssize_t)8);
}

/* rans_decode(stream, x, position, indexes int32 (n,), cdfs int32 (rows, stride), stride,
 *             lengths int32 (rows,), offsets int32 (rows,), out int32 (n,)) -> (x, position)
 * Returns None as position when the stream ends before its symbols do (a corrupt payload). */
static PyObject *rans_decode(PyObject *self, PyObject *args) {
    Py_buffer st, ix, cd, ln, of, out;
    unsigned long long x0;
    Py_ssize_t pos, stride;
    PyObject *o_ix, *o_cd, *o_ln, *o_of, *o_out;
    if (!PyArg_ParseTuple(args, "y*KnOOnOOO", &st, &x0, &pos, &o_ix, &o_cd, &stride, &o_ln, &o_of, &o_out))
        return NULL;
    PyObject *ret = NULL;
    int got = 0;
    if (get(o_ix, &ix, 0, 4, "indexes") < 0) goto release0;
    got = 1;
    if (get(o_cd, &cd, 0, 4, "cdfs") < 0) goto release;
    got = 2;
    if (get(o_ln, &ln, 0, 4, "lengths") < 0) goto release;
    got = 3;
    if (get(o_of, &of, 0, 4, "offsets") < 0) goto release;
    got = 4;
    if (get(o_out, &out, 1, 4, "out") < 0) goto release;
    got = 5;
    {
        const Py_ssize_t n = ix.len / 4, rows = ln.len / 4;
        if (out.len != ix.len || of.len != ln.len || stride <= 1 || cd.len != rows * stride * 4
            || pos < 8 || pos > st.len) {
            PyErr_SetString(PyExc_ValueError, "rans_decode: inconsistent sizes");
            goto release;
        }
        const int32_t *idx = (const int32_t *)ix.buf, *cdfs = (const int32_t *)cd.buf;
        const int32_t *lengths = (const int32_t *)ln.buf, *offsets = (const int32_t *)of.buf;
        for (Py_ssize_t r = 0; r < rows; ++r)
            if (lengths[r] < 2 || lengths[r] > stride) {
                PyErr_SetString(PyExc_ValueError, "rans_decode: a CDF length outside its table row");
                goto release;
            }
        int32_t *o = (int32_t *)out.buf;
        Dec d = {(uint64_t)x0, (const uint8_t *)st.buf + pos, (const uint8_t *)st.buf + st.len};
        int bad = 0;  /* 1: index out of range, 2: stream overrun */
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n && !bad; ++i) {
            const int32_t ci = idx[i];
            if (ci < 0 || ci >= rows) { bad = 1; break; }
            const int32_t *cdf = cdfs + (Py_ssize_t)ci * stride;
            const int32_t size = lengths[ci], max_value = size - 2;
            const uint32_t cum = (uint32_t)(d.x & ((1u << PRECISION) - 1));
            /* the last s with cdf[s] <= cum (compressai: first v > cum, minus one), s <= size - 2 */
            int32_t lo = 0, hi = size - 1;
            while (hi - lo > 1) {
                const int32_t mid = (lo + hi) >> 1;
                if ((uint32_t)cdf[mid] <= cum) lo = mid; else hi = mid;
            }
            const int32_t s = lo;
            const uint32_t start = (uint32_t)cdf[s], freq = (uint32_t)(cdf[s + 1] - cdf[s]);
            uint64_t x = d.x;
            x = (uint64_t)freq * (x >> PRECISION) + (x & ((1ull << PRECISION) - 1)) - start;
            if (x < RANS64_L) {
                uint32_t w;
                if (next_word(&d, &w) < 0) { bad = 2; break; }
                x = (x << 32) | w;
            }
            d.x = x;
            int32_t value = s;
            if (value == max_value) {  /* bypass: the value is outside the CDF, coded in 4-bit words */
                uint32_t v;
                if (get_bits(&d, BYPASS_PRECISION, &v) < 0) { bad = 2; break; }
                int32_t n_bypass = (int32_t)v;
                while (v == MAX_BYPASS_VAL) {
                    if (get_bits(&d, BYPASS_PRECISION, &v) < 0) { bad = 2; break; }
                    n_bypass += (int32_t)v;
                }
                if (bad) break;
                if (n_bypass > 8) { bad = 2; break; }  /* > 32 bits: not a stream compressai wrote */
                uint32_t raw = 0;
                for (int32_t j = 0; j < n_bypass; ++j) {
                    if (get_bits(&d, BYPASS_PRECISION, &v) < 0) { bad = 2; break; }
                    raw |= v << (j * BYPASS_PRECISION);
                }
                if (bad) break;
                value = (int32_t)(raw >> 1);
                value = (raw & 1) ? -value - 1 : value + max_value;
            }
            o[i] = value + offsets[ci];
        }
        Py_END_ALLOW_THREADS
        if (bad == 1) {
            PyErr_SetString(PyExc_ValueError, "rans_decode: a scale index outside the CDF table");
            goto release;
        }
        if (bad == 2) {
            ret = Py_BuildValue("(KO)", (unsigned long long)d.x, Py_None);
            goto release;
        }
        ret = Py_BuildValue("(Kn)", (unsigned long long)d.x, (Py_ssize_t)(d.ptr - (const uint8_t *)st.buf));
    }
release:
    if (got >= 5) PyBuffer_Release(&out);
    if (got >= 4) PyBuffer_Release(&of);
    if (got >= 3) PyBuffer_Release(&ln);
    if (got >= 2) PyBuffer_Release(&cd);
    if (got >= 1) PyBuffer_Release(&ix);
release0:
    PyBuffer_Release(&st);
    return ret;
}

static PyMethodDef methods[] = {
    {"rescale", rescale, METH_VARARGS, "Int8Conv.finish in one pass (see int8_nets)."},
    {"digits", digits, METH_VARARGS, "int16 layer inputs -> int8 base-128 digits (hi plane, then lo)."},
    {"shift_input", shift_input, METH_VARARGS, "float64 integers at OUT_FRAC -> int16 layer inputs at IN_FRAC."},
    {"im2col", im2col, METH_VARARGS, "int8 im2col in unfold's order over a strided grid."},
    {"im2col_checkerboard", im2col_checkerboard, METH_VARARGS, "int8 im2col at one checkerboard parity, row-major."},
    {"sparse_accumulate", sparse_accumulate, METH_VARARGS, "Adds a mostly-zero int8 plane's convolution."},
    {"scale_indexes", scale_indexes, METH_VARARGS, "Scale-table indexes by exact comparison (searchsorted)."},
    {"rans_init", rans_init, METH_VARARGS, "A compressai rANS stream's initial decoder state (x, position)."},
    {"rans_decode", rans_decode, METH_VARARGS, "Decode one coding stage of a compressai rANS stream."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", NULL, -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) {
#ifdef X86_VERSIONS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl"))
        isa = 2;
    else if (__builtin_cpu_supports("avx2"))
        isa = 1;
    /* GEOCODEC_KERNELS_ISA=avx2 or baseline caps the choice: how tests run every version on one host */
    const char *cap = getenv("GEOCODEC_KERNELS_ISA");
    if (cap && strcmp(cap, "avx2") == 0 && isa > 1) isa = 1;
    if (cap && strcmp(cap, "baseline") == 0) isa = 0;
#endif
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "isa", isa) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
