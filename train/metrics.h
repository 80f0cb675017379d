// Clip-level tagging metrics, as scikit-learn computes them (shared/spec/data.md §4.2), ties included.
// Per class c (scores s, truth y in {0,1} over N clips; P positives, Q = N - P negatives):
//   AP_c  = sum_k (R_k - R_{k-1}) Prec_k over the distinct scores in decreasing order (a tie group counts
//           as one threshold): sklearn.metrics.average_precision_score
//   AUC_c = trapezoidal area under the ROC curve over the same thresholds (a tie between a positive and
//           a negative counts 1/2): sklearn.metrics.roc_auc_score
// Only classes with 0 < P < N ("present") enter the means:
//   mAP, mAUC                 means of AP_c, AUC_c over the present classes
//   dprime_mean_of_classes    mean_c sqrt(2) Phi^-1(AUC_c)      (DCLS-Audio's engine.evaluate)
//   dprime_of_mean_auc        sqrt(2) Phi^-1(mAUC)              (AST / PANNs)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace engine::train {

struct ClassMetrics {
  int64_t positives = 0;
  bool present = false;  // 0 < positives < N
  double ap = 0, auc = 0;  // meaningful only when present
};

struct TaggingMetrics {
  int64_t clips = 0;
  int present = 0;  // classes in the means
  double map = 0, mauc = 0, dprime_mean_of_classes = 0, dprime_of_mean_auc = 0;
  std::vector<ClassMetrics> per_class;  // (K)
};

// scores (N, K) row-major (logits or probabilities: only the order matters), targets (N, K) 0/1.
TaggingMetrics tagging_metrics(const std::vector<float>& scores, const std::vector<float>& targets, int64_t n, int k);

// sqrt(2) Phi^-1(auc); +-inf at auc 1 and 0.
double d_prime(double auc);

// One row per class: index, mid, display name, positives, AP, AUC (empty for absent classes). Atomic write.
void write_per_class_csv(const std::string& path, const TaggingMetrics& m, const std::vector<std::string>& mids,
                         const std::vector<std::string>& names);

}  // namespace engine::train
