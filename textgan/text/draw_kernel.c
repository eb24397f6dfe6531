/* Token draws from softmax rows in one pass over each row: the CPU kernel behind
 * textgan.text.draw_kernel (see there for why it exists and how it is built).
 *
 * Row r's logits are y = (x[r] + bias) * scale. Draw j of row r is the first token i whose
 * cumulative probability exceeds u[r, j], the draw of
 * torch.searchsorted(softmax(y).cumsum(), u[r, j], right=True). Each block of BLOCK logits is read
 * once from memory: its maximum, then (from the cache) its sum of exp(y - the running maximum); the
 * sums are rescaled to the row's maximum at the end. A draw walks the block sums, then the
 * cumulative probabilities inside one block.
 */
#include <math.h>
#include <stdint.h>

/* glibc's vector expf (libmvec): lets `omp simd` loops call it eight lanes at a time */
__attribute__((simd("notinbranch"))) float expf(float);

enum { BLOCK = 128 };

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

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
        for (int64_t i = 0; i < n; i++) p[i] = expf((x[lo + i] + bias[lo + i]) * scale - peak);
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
        if (expf((x[i] + bias[i]) * scale - peak) > 0.0f) return i;
    return v - 1;  /* no finite logit in the row */
}

static void draw_row(const float *x, const float *bias, float scale, int64_t v, const float *u, int64_t n,
                     int64_t *out) {
    int64_t nb = (v + BLOCK - 1) / BLOCK;
    float sums[nb], peaks[nb], peak = -INFINITY, total = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        const float *blk = x + b * BLOCK, *blk_bias = bias + b * BLOCK;
        int64_t len = min64(BLOCK, v - b * BLOCK);
        float y[BLOCK], bmax = -INFINITY, s = 0.0f;
        #pragma omp simd reduction(max:bmax)
        for (int64_t i = 0; i < len; i++) {
            y[i] = (blk[i] + blk_bias[i]) * scale;
            bmax = y[i] > bmax ? y[i] : bmax;
        }
        if (bmax > peak) peak = bmax;
        peaks[b] = peak;
        if (bmax == -INFINITY) {  /* no mass (and exp(-inf - -inf) would be NaN) */
            sums[b] = 0.0f;
            continue;
        }
        #pragma omp simd reduction(+:s)
        for (int64_t i = 0; i < len; i++) s += expf(y[i] - peak);
        sums[b] = s;
    }
    for (int64_t b = 0; b < nb; b++) {
        sums[b] *= expf(peaks[b] - peak);
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
