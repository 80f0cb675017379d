#include "train/config.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <toml++/toml.h>

#include "engine/check.h"

namespace engine::train {

namespace {

enum class Kind { text, integer, real, boolean, int_list };

struct Field {
  const char* section;
  const char* key;
  Kind kind;
  void* (*at)(TrainConfig&);
  const char* help;
};

#define FIELD(sec, name, kind, help) \
  Field { #sec, #name, Kind::kind, [](TrainConfig& c) -> void* { return &c.sec.name; }, help }

const std::vector<Field>& fields() {
  static const std::vector<Field> table = {
      FIELD(model, arch, text, "convnext | convformer | fastvit"),
      FIELD(model, variant, text, "dsc (depthwise 7x7) | dcls (DCLS-Gauss 23x23, 26 elements)"),
      FIELD(model, dims, int_list, "channels per stage, 4 values ([] = the paper's)"),
      FIELD(model, depths, int_list, "blocks per stage, 4 values ([] = the paper's)"),
      FIELD(model, norm, text, "layer (the paper's LayerNorms) | batch (BatchNorm in their places; convnext only)"),
      FIELD(model, head_pool, text, "mean (the paper's, over frequency and time) | time_max_mean (PANNs: max + mean over time of the frequency mean)"),
      FIELD(model, drop_path, real, "stochastic depth rate, linear over the blocks"),
      FIELD(model, layer_scale_init, real, "initial layer scale (ConvNeXt gamma, FastViT layer scales), main.py's 1e-6"),
      FIELD(model, num_classes, integer, "output classes (must match the data)"),
      FIELD(data, train, text, "training spectrogram HDF5 (engine_prep)"),
      FIELD(data, eval, text, "held-out spectrogram HDF5, evaluated every train.eval_every epochs"),
      FIELD(data, workers, integer, "loader threads"),
      FIELD(data, augment, boolean, "time roll, speed, frequency/time erasing (recipe D.2)"),
      FIELD(data, mixup_alpha, real, "mixup lambda ~ Beta(a, a) per batch; 0: no mixup"),
      FIELD(data, label_smoothing, real, "targets y -> (1-s) y + s/K (before mixup)"),
      FIELD(data, eval_batch, integer, "batch size for evaluation"),
      FIELD(data, bad_clips, text, "skip | stop: what a training clip with NaN/inf, silence or no labels does"),
      FIELD(optim, optimizer, text, "adamw (torch) | lamb (timm)"),
      FIELD(optim, lr, real, "peak learning rate for a total batch of optim.lr_batch"),
      FIELD(optim, lr_batch, integer, "the total batch optim.lr is for: the run uses lr * total batch / lr_batch"),
      FIELD(optim, min_lr, real, "final learning rate of the cosine"),
      FIELD(optim, warmup_epochs, integer, "linear warm-up from 0, in epochs"),
      FIELD(optim, warmup_steps, integer, "linear warm-up in optimizer steps; > 0 overrides warmup_epochs"),
      FIELD(optim, weight_decay, real, "decoupled weight decay of the decay group"),
      FIELD(optim, beta1, real, "first-moment decay"),
      FIELD(optim, beta2, real, "second-moment decay"),
      FIELD(optim, eps, real, "denominator epsilon"),
      FIELD(optim, dcls_lr_scale, real, "learning-rate factor of DCLS positions and sigmas"),
      FIELD(optim, max_grad_norm, real, "LAMB's global gradient-norm clip"),
      FIELD(train, epochs, integer, "epochs"),
      FIELD(train, batch, integer, "clips per device per micro-batch"),
      FIELD(train, update_freq, integer, "micro-batches accumulated per optimizer step"),
      FIELD(train, seed, integer, "seed of weights, data order, augmentations, mixup and drop path"),
      FIELD(train, device, text, "auto | cpu | cuda"),
      FIELD(train, ema, boolean, "keep an exponential moving average of the weights and evaluate it too"),
      FIELD(train, ema_decay, real, "EMA decay per optimizer step"),
      FIELD(train, eval_every, integer, "evaluate and checkpoint every N epochs (0: only at the end)"),
      FIELD(train, log_every, integer, "progress line and JSONL record every N optimizer steps"),
      FIELD(train, keep_last, integer, "periodic checkpoints kept, at least 1 (the best is kept besides)"),
      FIELD(train, on_nonfinite, text, "skip | stop: what a NaN/Inf loss or gradient does"),
      FIELD(train, out, text, "run directory: config, log, checkpoints"),
      FIELD(train, dist_timeout, real, "data-parallel runs: seconds a rank waits for its peers (start-up, each collective) before failing"),
      FIELD(train, check_every, integer, "data-parallel runs: check that all ranks hold identical parameters every N optimizer steps (0: never)"),
  };
  return table;
}
#undef FIELD

std::string full_name(const Field& f) { return std::string(f.section) + "." + f.key; }

const char* type_name(Kind k) {
  switch (k) {
    case Kind::text: return "TEXT";
    case Kind::integer: return "INT";
    case Kind::real: return "FLOAT";
    case Kind::boolean: return "BOOL";
    case Kind::int_list: return "INT,INT,INT,INT";
  }
  return "?";
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::text: return "a string";
    case Kind::integer: return "an integer";
    case Kind::real: return "a number";
    case Kind::boolean: return "true or false";
    case Kind::int_list: return "a list of integers";
  }
  return "?";
}

// Sets field f of c from a TOML node; `where` names the file or flag for errors.
void set_from_node(TrainConfig& c, const Field& f, const toml::node& node, const std::string& where) {
  void* p = f.at(c);
  auto wrong = [&]() {
    user_error(where, ": ", full_name(f), ": expected ", kind_name(f.kind), ", got ", node.type());
  };
  switch (f.kind) {
    case Kind::text:
      if (!node.is_string()) wrong();
      *static_cast<std::string*>(p) = node.as_string()->get();
      break;
    case Kind::integer:
      if (!node.is_integer()) wrong();
      *static_cast<int64_t*>(p) = node.as_integer()->get();
      break;
    case Kind::real:
      if (node.is_integer())
        *static_cast<double*>(p) = double(node.as_integer()->get());
      else if (node.is_floating_point())
        *static_cast<double*>(p) = node.as_floating_point()->get();
      else
        wrong();
      break;
    case Kind::boolean:
      if (!node.is_boolean()) wrong();
      *static_cast<bool*>(p) = node.as_boolean()->get();
      break;
    case Kind::int_list: {
      if (!node.is_array()) wrong();
      std::vector<int64_t> v;
      for (const toml::node& e : *node.as_array()) {
        if (!e.is_integer()) wrong();
        v.push_back(e.as_integer()->get());
      }
      *static_cast<std::vector<int64_t>*>(p) = v;
      break;
    }
  }
}

const Field* find_field(const std::string& section, const std::string& key) {
  for (const Field& f : fields())
    if (section == f.section && key == f.key) return &f;
  return nullptr;
}

std::string value_text(TrainConfig& c, const Field& f) {
  void* p = f.at(c);
  std::ostringstream os;
  switch (f.kind) {
    case Kind::text: os << toml::value<std::string>(*static_cast<std::string*>(p)); break;
    case Kind::integer: os << *static_cast<int64_t*>(p); break;
    case Kind::real: {
      const double v = *static_cast<double*>(p);
      char buf[40];
      for (int digits = 6; digits <= 17; ++digits) {  // the shortest text that reads back as the same double
        std::snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (std::strtod(buf, nullptr) == v) break;
      }
      std::string s = buf;
      if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep it a TOML float
      os << s;
      break;
    }
    case Kind::boolean: os << (*static_cast<bool*>(p) ? "true" : "false"); break;
    case Kind::int_list: {
      const auto& v = *static_cast<std::vector<int64_t>*>(p);
      os << "[";
      for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
      os << "]";
      break;
    }
  }
  return os.str();
}

}  // namespace

TrainConfig paper_config(const std::string& arch, const std::string& variant) {
  TrainConfig c;
  c.model.arch = arch;
  c.model.variant = variant;
  if (arch == "convformer") {
    c.optim.optimizer = "lamb";
    c.train.batch = 64;
    c.train.update_freq = 2;
  }
  return c;
}

TrainConfig load_config(const std::string& path, TrainConfig c) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    // toml++ quotes the bytes it saw, which can hold a line break: the message stays one line.
    std::string why(e.description());
    for (char& ch : why)
      if (ch == '\n' || ch == '\r') ch = ' ';
    user_error(path, ":", b.line, ":", b.column, ": ", why);
  }
  for (const auto& [section, node] : root) {
    const std::string sec(section.str());
    const toml::table* t = node.as_table();
    USER_CHECK(t, path, ": '", sec, "' must be a section ([model], [data], [optim] or [train])");
    USER_CHECK(sec == "model" || sec == "data" || sec == "optim" || sec == "train", path, ": unknown section [", sec,
               "] (expected [model], [data], [optim] or [train])");
    for (const auto& [key, value] : *t) {
      const Field* f = find_field(sec, std::string(key.str()));
      USER_CHECK(f, path, ": unknown key ", sec, ".", key.str(), " (engine_train_* --help lists the keys)");
      set_from_node(c, *f, value, path);
    }
  }
  return c;
}

std::vector<ConfigKey> config_keys() {
  std::vector<ConfigKey> keys;
  for (const Field& f : fields()) {
    const Field* fp = &f;
    keys.push_back({full_name(f), f.help, type_name(f.kind), [fp](TrainConfig& c, const std::string& text) {
                      const std::string flag = "--" + full_name(*fp);
                      const bool bare_list = fp->kind == Kind::int_list && text.find('[') == std::string::npos;
                      toml::table t;
                      try {
                        t = toml::parse("v = " + (bare_list ? "[" + text + "]" : text));
                      } catch (const toml::parse_error&) {
                        // A bare word for a string key (e.g. --train.device cpu) needs no quotes.
                        if (fp->kind != Kind::text) user_error(flag, ": expected ", kind_name(fp->kind), ", got '", text, "'");
                        t = toml::table{{"v", text}};
                      }
                      set_from_node(c, *fp, *t.get("v"), flag);
                    }});
  }
  return keys;
}

void validate(const TrainConfig& c) {
  auto choice = [](const std::string& key, const std::string& v, std::initializer_list<const char*> ok) {
    std::string list;
    for (const char* o : ok) {
      if (v == o) return;
      list += std::string(list.empty() ? "" : ", ") + o;
    }
    user_error(key, ": '", v, "' is not one of ", list);
  };
  choice("model.arch", c.model.arch, {"convnext", "convformer", "fastvit"});
  choice("model.variant", c.model.variant, {"dsc", "dcls"});
  choice("model.norm", c.model.norm, {"layer", "batch"});
  choice("model.head_pool", c.model.head_pool, {"mean", "time_max_mean"});
  USER_CHECK(c.model.norm == "layer" || c.model.arch == "convnext", "model.norm = batch: only for convnext (",
             c.model.arch, " keeps the paper's norms)");
  choice("optim.optimizer", c.optim.optimizer, {"adamw", "lamb"});
  choice("train.device", c.train.device, {"auto", "cpu", "cuda"});
  choice("train.on_nonfinite", c.train.on_nonfinite, {"skip", "stop"});
  choice("data.bad_clips", c.data.bad_clips, {"skip", "stop"});
  for (const auto* list : {&c.model.dims, &c.model.depths}) {
    const char* key = list == &c.model.dims ? "model.dims" : "model.depths";
    USER_CHECK(list->empty() || list->size() == 4, key, ": expected 4 values (one per stage) or [], got ",
               list->size());
    for (int64_t v : *list) USER_CHECK(v > 0 && v <= 1 << 16, key, ": values must be positive, got ", v);
  }
  auto positive = [](const char* key, double v) { USER_CHECK(v > 0 && std::isfinite(v), key, ": must be > 0, got ", v); };
  auto non_negative = [](const char* key, double v) {
    USER_CHECK(v >= 0 && std::isfinite(v), key, ": must be >= 0, got ", v);
  };
  auto unit = [](const char* key, double v) { USER_CHECK(v >= 0 && v < 1, key, ": must be in [0, 1), got ", v); };
  USER_CHECK(c.model.drop_path >= 0 && c.model.drop_path < 1, "model.drop_path: must be in [0, 1), got ",
             c.model.drop_path);
  positive("model.layer_scale_init", c.model.layer_scale_init);
  positive("model.num_classes", double(c.model.num_classes));
  non_negative("data.workers", double(c.data.workers));
  non_negative("data.mixup_alpha", c.data.mixup_alpha);
  unit("data.label_smoothing", c.data.label_smoothing);
  positive("data.eval_batch", double(c.data.eval_batch));
  positive("optim.lr", c.optim.lr);
  positive("optim.lr_batch", double(c.optim.lr_batch));
  non_negative("optim.min_lr", c.optim.min_lr);
  non_negative("optim.warmup_epochs", double(c.optim.warmup_epochs));
  non_negative("optim.weight_decay", c.optim.weight_decay);
  unit("optim.beta1", c.optim.beta1);
  unit("optim.beta2", c.optim.beta2);
  positive("optim.eps", c.optim.eps);
  positive("optim.dcls_lr_scale", c.optim.dcls_lr_scale);
  positive("optim.max_grad_norm", c.optim.max_grad_norm);
  positive("train.epochs", double(c.train.epochs));
  positive("train.batch", double(c.train.batch));
  positive("train.update_freq", double(c.train.update_freq));
  non_negative("train.seed", double(c.train.seed));
  unit("train.ema_decay", c.train.ema_decay);
  non_negative("train.eval_every", double(c.train.eval_every));
  positive("train.log_every", double(c.train.log_every));
  positive("train.keep_last", double(c.train.keep_last));
  positive("train.dist_timeout", c.train.dist_timeout);
  non_negative("train.check_every", double(c.train.check_every));
  USER_CHECK(!c.train.out.empty(), "train.out: must name a directory");
}

std::string to_toml(const TrainConfig& config) {
  TrainConfig c = config;
  std::string out, section;
  for (const Field& f : fields()) {
    if (section != f.section) {
      section = f.section;
      out += (out.empty() ? "[" : "\n[") + section + "]\n";
    }
    out += std::string(f.key) + " = " + value_text(c, f) + "\n";
  }
  return out;
}

std::string first_difference(const TrainConfig& a, const TrainConfig& b) {
  TrainConfig x = a, y = b;
  for (const Field& f : fields())
    if (value_text(x, f) != value_text(y, f)) return full_name(f);
  return "";
}

}  // namespace engine::train
