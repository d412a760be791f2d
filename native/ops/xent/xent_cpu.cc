// Rows are independent, so rows are spread over threads; per-row losses and hits are summed
// afterwards in row order, which keeps the result independent of the thread count.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../../core/errors.h"
#include "xent.h"

namespace mvd {
namespace {

// Checked before any parallel region: an exception must not cross an OpenMP region boundary.
void check_labels(const char* op, const int32_t* labels, int64_t B, int64_t C) {
  for (int64_t i = 0; i < B; ++i)
    if (labels[i] < 0 || labels[i] >= C)
      throw OpError(ErrorKind::Value, op,
                    "label " + std::to_string(labels[i]) + " at row " + std::to_string(i) + " is outside [0, " +
                        std::to_string(C) + ")");
}

// Writes exp(x − max) into e; returns Σ exp(x − max) and sets *lse = max + log of that sum.
double row_exp(const float* x, int64_t C, float* e, double* lse) {
  float m = x[0];
  for (int64_t c = 1; c < C; ++c) m = std::max(m, x[c]);
  double sum = 0;
  for (int64_t c = 0; c < C; ++c) {
    e[c] = std::exp(x[c] - m);
    sum += e[c];
  }
  *lse = (double)m + std::log(sum);
  return sum;
}

}  // namespace

void cross_entropy_cpu(const float* logits, const int32_t* labels, const float* soft, int64_t B, int64_t C, float eps,
                       float* loss, float* dlogits) {
  if (labels) check_labels("crossEntropy", labels, B, C);
  static thread_local std::vector<double> row_loss;
  row_loss.assign((size_t)B, 0.0);
  double* rl = row_loss.data();
  const double invB = 1.0 / (double)B;
#pragma omp parallel for schedule(static) if (B * C > 32768)
  for (int64_t i = 0; i < B; ++i) {
    const float* x = logits + i * C;
    float* g = dlogits + i * C;
    double lse;
    const double inv_sum = 1.0 / row_exp(x, C, g, &lse);
    double l = 0, tsum = 1;
    if (labels) {
      // t = (1−eps)·onehot + eps/C sums to 1; Σ t_c (lse − x_c) = lse − (1−eps)·x_y − eps/C·Σ x_c.
      double xsum = 0;
      for (int64_t c = 0; c < C; ++c) xsum += x[c];
      const int32_t y = labels[i];
      l = lse - (1.0 - eps) * x[y] - eps * xsum / (double)C;
      const double off = eps / (double)C;
      for (int64_t c = 0; c < C; ++c) g[c] = (float)((g[c] * inv_sum - off) * invB);
      g[y] = (float)((double)g[y] - (1.0 - eps) * invB);
    } else {
      const float* t = soft + i * C;
      tsum = 0;
      for (int64_t c = 0; c < C; ++c) {
        tsum += t[c];
        l += (double)t[c] * (lse - x[c]);
      }
      for (int64_t c = 0; c < C; ++c) g[c] = (float)((g[c] * inv_sum * tsum - t[c]) * invB);
    }
    rl[i] = l;
  }
  double total = 0;
  for (int64_t i = 0; i < B; ++i) total += rl[i];
  loss[0] = (float)(total * invB);
}

void softmax_cpu(const float* logits, int64_t B, int64_t C, float* out) {
#pragma omp parallel for schedule(static) if (B * C > 32768)
  for (int64_t i = 0; i < B; ++i) {
    float* o = out + i * C;
    double lse;
    const double inv = 1.0 / row_exp(logits + i * C, C, o, &lse);
    for (int64_t c = 0; c < C; ++c) o[c] = (float)(o[c] * inv);
  }
}

void topk_correct_cpu(const float* logits, const int32_t* labels, int64_t B, int64_t C, const int64_t* ks, int64_t nk,
                      float* out) {
  check_labels("topkCorrect", labels, B, C);
  static thread_local std::vector<int64_t> rank;
  rank.assign((size_t)B, 0);
  int64_t* rk = rank.data();
#pragma omp parallel for schedule(static) if (B * C > 32768)
  for (int64_t i = 0; i < B; ++i) {
    const float* x = logits + i * C;
    const float v = x[labels[i]];
    int64_t greater = 0;
    for (int64_t c = 0; c < C; ++c) greater += x[c] > v;
    rk[i] = greater;
  }
  for (int64_t j = 0; j < nk; ++j) {
    int64_t hits = 0;
    for (int64_t i = 0; i < B; ++i) hits += rk[i] < ks[j];
    out[j] = (float)hits;
  }
}

}  // namespace mvd
