/* The CPU kernels behind textgan.text.cpu_kernels (see there for why they exist and how they are
 * built): token draws from softmax rows, and softmax cross-entropy, each in one pass over a row from
 * memory (the rest of the work on a row runs in the cache).
 *
 * Draws: row r's logits are y = (x[r] + bias) * scale. Draw j of row r is the first token i whose
 * cumulative probability exceeds u[r, j], the draw of
 * torch.searchsorted(softmax(y).cumsum(), u[r, j], right=True). Each block of BLOCK logits gives its
 * maximum, then its sum of exp(y - the running maximum); the sums are rescaled to the row's maximum
 * at the end. A draw walks the block sums, then the cumulative probabilities inside one block.
 */
#include <math.h>
#include <stdint.h>

/* glibc's vector expf (libmvec): lets `omp simd` loops call it eight lanes at a time */
__attribute__((simd("notinbranch"))) float expf(float);

enum { BLOCK = 128 };

/* exp of a gap (logit - row maximum) below FLOOR counts as 0: float32 results there are subnormal. */
static const float FLOOR = -87.0f;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* g[i] = y[i] - peak, raised to FLOOR where lower. glibc's vector expf takes a scalar path for
 * arguments below -87.3, many times slower, and wide logits put most tokens there. The clamp has
 * its own loop: in the exp loop the compiler folded it away and handed expf the raw gaps (checked). */
static void clamped_gaps(float *g, const float *y, int64_t n, float peak) {
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float d = y[i] - peak;
        g[i] = d < FLOOR ? FLOOR : d;
    }
}

/* g[i] = exp(g[i]) of clamped gaps, 0 at FLOOR (a multiply, so NaN stays NaN); returns their sum. */
static float exp_gaps(float *g, int64_t n) {
    float s = 0.0f;
    #pragma omp simd reduction(+:s)
    for (int64_t i = 0; i < n; i++) {
        g[i] = expf(g[i]) * (float)(g[i] > FLOOR);
        s += g[i];
    }
    return s;
}

/* The token whose cumulative probability first exceeds target (same scale as sums). If rounding
 * leaves the target at or past the total, the last token with a positive probability. */
static int64_t draw_one(const float *x, const float *bias, float scale, int64_t v, const float *sums, int64_t nb,
                        float peak, float target) {
    float cum = 0.0f, p[BLOCK];
    int64_t b = 0, last = -1;
    while (b < nb - 1 && cum + sums[b] <= target) cum += sums[b++];
    int64_t start = b * BLOCK;
    for (; b < nb; b++) {
        int64_t lo = b * BLOCK, n = min64(BLOCK, v - lo);
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) p[i] = (x[lo + i] + bias[lo + i]) * scale;
        clamped_gaps(p, p, n, peak);
        exp_gaps(p, n);
        for (int64_t i = 0; i < n; i++) {
            if (p[i] > 0.0f) {
                last = lo + i;
                cum += p[i];
                if (cum > target) return last;
            }
        }
    }
    if (last >= 0) return last;
    for (int64_t i = start - 1; i >= 0; i--)  /* every later token had no mass */
        if ((x[i] + bias[i]) * scale - peak > FLOOR) return i;
    return v - 1;  /* no finite logit in the row */
}

static void draw_row(const float *x, const float *bias, float scale, int64_t v, const float *u, int64_t n,
                     int64_t *out) {
    int64_t nb = (v + BLOCK - 1) / BLOCK;
    float sums[nb], peaks[nb], peak = -INFINITY, total = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        const float *blk = x + b * BLOCK, *blk_bias = bias + b * BLOCK;
        int64_t len = min64(BLOCK, v - b * BLOCK);
        float y[BLOCK], bmax = -INFINITY;
        #pragma omp simd reduction(max:bmax)
        for (int64_t i = 0; i < len; i++) {
            y[i] = (blk[i] + blk_bias[i]) * scale;
            bmax = y[i] > bmax ? y[i] : bmax;
        }
        if (bmax > peak) peak = bmax;
        peaks[b] = peak;
        if (bmax == -INFINITY) {  /* no mass (and -inf - -inf would be NaN) */
            sums[b] = 0.0f;
            continue;
        }
        clamped_gaps(y, y, len, peak);
        sums[b] = exp_gaps(y, len);
    }
    for (int64_t b = 0; b < nb; b++) {
        float gap = peaks[b] - peak;
        sums[b] = gap > FLOOR ? sums[b] * expf(gap) : 0.0f;
        total += sums[b];
    }
    for (int64_t j = 0; j < n; j++) out[j] = draw_one(x, bias, scale, v, sums, nb, peak, u[j] * total);
}

/* logits (rows, v), bias (v), u (rows, n) in [0, 1), out (rows, n); all C-contiguous. */
void textgan_draw(const float *logits, const float *bias, float scale, int64_t rows, int64_t v, const float *u,
                  int64_t n, int64_t *out, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) draw_row(logits + r * v, bias, scale, v, u + r * n, n, out + r * n);
}

/* Softmax cross-entropy of rows of logits x (rows, v) + bias (v) against targets (rows): losses[r] =
 * logsumexp(y) - y[target], and x[r] is overwritten by softmax(y), the gradient's main term. */
void textgan_softmax_xent(float *x, const float *bias, const int64_t *targets, int64_t rows, int64_t v,
                          float *losses, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        float *y = x + r * v, peak = -INFINITY;
        #pragma omp simd reduction(max:peak)
        for (int64_t i = 0; i < v; i++) {
            y[i] += bias[i];
            peak = y[i] > peak ? y[i] : peak;
        }
        float target = y[targets[r]];
        clamped_gaps(y, y, v, peak);
        float total = exp_gaps(y, v), inv = 1.0f / total;
        #pragma omp simd
        for (int64_t i = 0; i < v; i++) y[i] *= inv;
        losses[r] = peak + logf(total) - target;
    }
}
