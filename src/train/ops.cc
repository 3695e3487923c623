#include "train/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace flotilla::train {

void RmsNormForward(const float* x, const float* w, int64_t n, int64_t d, float eps, float* y, float* rstd) {
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * d;
    double sum = 0.0;  // as the inference kernel: the sum of squares in double
    for (int64_t j = 0; j < d; ++j) sum += static_cast<double>(xi[j]) * xi[j];
    const float r = 1.0f / std::sqrt(static_cast<float>(sum / d) + eps);
    rstd[i] = r;
    float* yi = y + i * d;
    for (int64_t j = 0; j < d; ++j) yi[j] = xi[j] * r * w[j];
  }
}

// With u = x * r:  y = u * w,  dw += dy * u,  dx = r * (dy * w - u * mean(dy * w * u)).
void RmsNormBackward(const float* dy, const float* x, const float* w, const float* rstd, int64_t n, int64_t d,
                     float* dx, float* dw, bool accumulate_dx) {
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * d;
    const float* dyi = dy + i * d;
    float* dxi = dx + i * d;
    const float r = rstd[i];
    float dot = 0.0f;
    for (int64_t j = 0; j < d; ++j) dot += dyi[j] * w[j] * xi[j];
    const float mean = dot * r / static_cast<float>(d);  // mean(dy * w * u)
    for (int64_t j = 0; j < d; ++j) {
      const float u = xi[j] * r;
      if (dw) dw[j] += dyi[j] * u;
      const float g = r * (dyi[j] * w[j] - u * mean);
      dxi[j] = accumulate_dx ? dxi[j] + g : g;
    }
  }
}

RopeTable MakeRopeTable(const RopeParams& params, int32_t head_dim, int32_t n_pos) {
  RopeTable t;
  t.params = params;
  if (t.params.n_rot <= 0) t.params.n_rot = head_dim;
  t.n_pos = n_pos;
  const int32_t half = t.params.n_rot / 2;
  t.cos.resize(static_cast<size_t>(n_pos) * half);
  t.sin.resize(t.cos.size());
  const float theta_scale = std::pow(params.freq_base, -2.0f / static_cast<float>(t.params.n_rot));
  for (int32_t pos = 0; pos < n_pos; ++pos) {
    float theta = static_cast<float>(pos);  // repeated multiplication, exactly as kernels/ops.cc
    for (int32_t i = 0; i < half; ++i, theta *= theta_scale) {
      const float angle = params.freq_factors ? theta / params.freq_factors[i] : theta;
      t.cos[static_cast<size_t>(pos) * half + i] = std::cos(angle);
      t.sin[static_cast<size_t>(pos) * half + i] = std::sin(angle);
    }
  }
  return t;
}

void RopeApply(const RopeTable& table, float* x, int64_t batch, int64_t seq, int32_t n_heads, int32_t head_dim,
               bool inverse) {
  const int32_t n_rot = table.params.n_rot, half = n_rot / 2;
  const bool norm = table.params.mode == RopeMode::kNorm;
  const int64_t width = int64_t{n_heads} * head_dim;
  for (int64_t row = 0; row < batch * seq; ++row) {
    const int64_t pos = row % seq;
    const float* cs = table.cos.data() + pos * half;
    const float* sn = table.sin.data() + pos * half;
    for (int32_t h = 0; h < n_heads; ++h) {
      float* v = x + row * width + int64_t{h} * head_dim;
      for (int32_t i = 0; i < half; ++i) {
        const int32_t a = norm ? 2 * i : i, b = norm ? 2 * i + 1 : i + half;
        const float c = cs[i], s = inverse ? -sn[i] : sn[i];
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
      }
    }
  }
}

namespace {

// 16 partial sums (a fixed order, so results repeat) that the compiler keeps in vector lanes.
[[gnu::always_inline]] inline float Dot(const float* a, const float* b, int32_t n) {
  float acc[16] = {};
  int32_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int32_t l = 0; l < 16; ++l) acc[l] += a[i + l] * b[i + l];
  }
  float s = 0.0f;
  for (; i < n; ++i) s += a[i] * b[i];
  for (int32_t l = 0; l < 16; ++l) s += acc[l];
  return s;
}

[[gnu::always_inline]] inline void Axpy(float alpha, const float* x, float* y, int32_t n) {
  for (int32_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace

namespace {

[[gnu::always_inline]] inline void AttnForwardBody(int64_t begin, int64_t end, const AttnShape& s, const float* q,
                                                   const float* k, const float* v, float* probs, float* out) {
  const int32_t hd = s.head_dim, group = s.n_head / s.n_head_kv;
  const int64_t wq = int64_t{s.n_head} * hd, wkv = int64_t{s.n_head_kv} * hd, T = s.seq;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    for (int64_t job = begin; job < end; ++job) {
      const int64_t b = job / s.n_head, h = job % s.n_head, kvh = h / group;
      for (int64_t i = 0; i < T; ++i) {
        const float* qi = q + (b * T + i) * wq + h * hd;
        float* p = probs + ((b * s.n_head + h) * T + i) * T;
        float max = -INFINITY;
        for (int64_t j = 0; j <= i; ++j) {
          p[j] = Dot(qi, k + (b * T + j) * wkv + kvh * hd, hd) * scale;
          max = std::max(max, p[j]);
        }
        float sum = 0.0f;
        for (int64_t j = 0; j <= i; ++j) sum += (p[j] = std::exp(p[j] - max));
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j <= i; ++j) p[j] *= inv;
        std::fill(p + i + 1, p + T, 0.0f);
        float* o = out + (b * T + i) * wq + h * hd;
        std::fill(o, o + hd, 0.0f);
        for (int64_t j = 0; j <= i; ++j) Axpy(p[j], v + (b * T + j) * wkv + kvh * hd, o, hd);
      }
    }
}

}  // namespace

namespace {

__attribute__((target("avx512f,avx512vl,avx2,fma"))) void AttnForwardAvx512(
    int64_t begin, int64_t end, const AttnShape& s, const float* q, const float* k, const float* v, float* probs,
    float* out) {
  AttnForwardBody(begin, end, s, q, k, v, probs, out);
}
void AttnForwardGeneric(int64_t begin, int64_t end, const AttnShape& s, const float* q, const float* k,
                        const float* v, float* probs, float* out) {
  AttnForwardBody(begin, end, s, q, k, v, probs, out);
}
void AttnForwardJobs(int64_t begin, int64_t end, const AttnShape& s, const float* q, const float* k, const float* v,
                     float* probs, float* out) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  (avx512 ? AttnForwardAvx512 : AttnForwardGeneric)(begin, end, s, q, k, v, probs, out);
}

}  // namespace

void AttentionForward(ThreadPool& pool, const AttnShape& s, const float* q, const float* k, const float* v,
                      float* probs, float* out) {
  pool.ParallelFor(s.batch * s.n_head, [&](int64_t begin, int64_t end) {
    AttnForwardJobs(begin, end, s, q, k, v, probs, out);
  });
}

namespace {

[[gnu::always_inline]] inline void AttnBackwardBody(int64_t begin, int64_t end, const AttnShape& s, const float* q,
                                                    const float* k, const float* v, const float* probs,
                                                    const float* dout, float* dq, float* dk, float* dv) {
  const int32_t hd = s.head_dim, group = s.n_head / s.n_head_kv;
  const int64_t wq = int64_t{s.n_head} * hd, wkv = int64_t{s.n_head_kv} * hd, T = s.seq;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    std::vector<float> ds(static_cast<size_t>(T));
    for (int64_t job = begin; job < end; ++job) {
      const int64_t b = job / s.n_head_kv, kvh = job % s.n_head_kv;
      for (int64_t j = 0; j < T; ++j) {
        std::fill_n(dk + (b * T + j) * wkv + kvh * hd, hd, 0.0f);
        std::fill_n(dv + (b * T + j) * wkv + kvh * hd, hd, 0.0f);
      }
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        for (int64_t i = 0; i < T; ++i) {
          const float* p = probs + ((b * s.n_head + h) * T + i) * T;
          const float* doi = dout + (b * T + i) * wq + h * hd;
          const float* qi = q + (b * T + i) * wq + h * hd;
          float* dqi = dq + (b * T + i) * wq + h * hd;
          float dot = 0.0f;  // sum_j p_j * dp_j
          for (int64_t j = 0; j <= i; ++j) {
            const int64_t kv = (b * T + j) * wkv + kvh * hd;
            ds[j] = Dot(doi, v + kv, hd);  // dp_j
            dot += p[j] * ds[j];
            Axpy(p[j], doi, dv + kv, hd);
          }
          std::fill(dqi, dqi + hd, 0.0f);
          for (int64_t j = 0; j <= i; ++j) {
            const int64_t kv = (b * T + j) * wkv + kvh * hd;
            const float g = p[j] * (ds[j] - dot) * scale;  // d(loss)/d(score_j) * scale
            Axpy(g, k + kv, dqi, hd);
            Axpy(g, qi, dk + kv, hd);
          }
        }
      }
    }
}

__attribute__((target("avx512f,avx512vl,avx2,fma"))) void AttnBackwardAvx512(
    int64_t begin, int64_t end, const AttnShape& s, const float* q, const float* k, const float* v,
    const float* probs, const float* dout, float* dq, float* dk, float* dv) {
  AttnBackwardBody(begin, end, s, q, k, v, probs, dout, dq, dk, dv);
}
void AttnBackwardGeneric(int64_t begin, int64_t end, const AttnShape& s, const float* q, const float* k,
                         const float* v, const float* probs, const float* dout, float* dq, float* dk, float* dv) {
  AttnBackwardBody(begin, end, s, q, k, v, probs, dout, dq, dk, dv);
}

}  // namespace

// One job per (sequence, KV head): it owns dk and dv of that head and dq of the heads sharing it.
void AttentionBackward(ThreadPool& pool, const AttnShape& s, const float* q, const float* k, const float* v,
                       const float* probs, const float* dout, float* dq, float* dk, float* dv) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  pool.ParallelFor(s.batch * s.n_head_kv, [&](int64_t begin, int64_t end) {
    (avx512 ? AttnBackwardAvx512 : AttnBackwardGeneric)(begin, end, s, q, k, v, probs, dout, dq, dk, dv);
  });
}

void SwiGluForward(const float* gate, const float* up, int64_t n, float* h) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    h[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void SwiGluBackward(const float* dh, const float* gate, const float* up, int64_t n, float* dgate, float* dup) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float sig = 1.0f / (1.0f + std::exp(-g));
    const float silu = g * sig;
    const float dsilu = sig * (1.0f + g * (1.0f - sig));
    const float d = dh[i];
    dgate[i] = d * up[i] * dsilu;
    dup[i] = d * silu;
  }
}

double CrossEntropy(ThreadPool& pool, const float* logits, const int32_t* targets, int64_t n, int64_t n_vocab,
                    float scale, float* dlogits) {
  std::vector<double> row_loss(static_cast<size_t>(n), 0.0);
  pool.ParallelFor(n, [&](int64_t begin, int64_t end) {
    std::vector<float> exps(dlogits ? 0 : static_cast<size_t>(n_vocab));
    for (int64_t i = begin; i < end; ++i) {
      const float* z = logits + i * n_vocab;
      float* dz = dlogits ? dlogits + i * n_vocab : nullptr;
      if (targets[i] < 0) {
        if (dz) std::fill(dz, dz + n_vocab, 0.0f);
        continue;
      }
      float max = -INFINITY;
      for (int64_t j = 0; j < n_vocab; ++j) max = std::max(max, z[j]);
      const float z_target = z[targets[i]];
      // e[j] = exp(z[j] - max), kept in dz (which may alias z) for the gradient.
      float* e = dz ? dz : exps.data();
      double sum = 0.0;
      for (int64_t j = 0; j < n_vocab; ++j) sum += (e[j] = std::exp(z[j] - max));
      row_loss[i] = std::log(sum) + max - z_target;
      if (!dz) continue;
      const float f = static_cast<float>(scale / sum);
      for (int64_t j = 0; j < n_vocab; ++j) dz[j] *= f;  // softmax * scale
      dz[targets[i]] -= scale;
    }
  });
  double total = 0.0;
  for (double l : row_loss) total += l;
  return total;
}

}  // namespace flotilla::train
