// The tagging pipeline; see tagger.h.
#include "tag/tagger.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "data/audio_io.h"
#include "data/logmel.h"
#include "engine/autograd.h"
#include "engine/check.h"
#include "engine/rng.h"
#include "models/fastvit.h"
#include "ops/activation.h"

namespace engine::tag {

namespace {

// One window's model input, on its way from a decoder to the model.
struct Window {
  int64_t index = 0;       // in its file
  std::vector<float> x;    // (M, T) normalised log-mel
};

struct FileSlot {
  std::deque<Window> queue;
  bool done = false;       // the decoder has finished the file (tags.error says whether it failed)
  int64_t unscored = 0;    // windows handed to the model whose scores are not back yet
  FileTags tags;
};

struct Stopped {};         // a decoder's way out when the run stops early

constexpr size_t kWindowsAhead = 4;  // per file being decoded

}  // namespace

struct Tagger::Impl {
  std::shared_ptr<models::AudioTagger> model;
  data::ModelInput input;
  TagOptions opt;
  WindowPlan plan;
  data::LogMel logmel;
  int K = 0;

  // The run's shared state, guarded by mu.
  std::mutex mu;
  std::condition_variable decoders_cv, model_cv;
  std::unordered_map<size_t, FileSlot> slots;  // the files between the model and the decoders (bounded)
  std::vector<std::string> files;
  size_t next_file = 0;      // the next file a decoder takes
  size_t model_file = 0;     // the file the model thread reads windows from
  bool stop = false;

  Impl(std::shared_ptr<models::AudioTagger> m, const data::ModelInput& in, const TagOptions& o)
      : model(std::move(m)), input(in), opt(o), logmel(in.fe) {
    plan = make_window_plan(in.fe.clip_samples, o.hop_s, in.fe.sample_rate);
    USER_CHECK(o.batch > 0, "--batch ", o.batch, ": expected a positive number");
    USER_CHECK(o.jobs > 0, "--jobs ", o.jobs, ": expected a positive number");
    if (auto fv = std::dynamic_pointer_cast<models::FastViT>(model); fv && !fv->fused()) model = fv->reparameterized();
    model->eval();
    model->to(o.device);
    K = model->config().num_classes;
  }

  // Decoder side: hands window k of file i to the model thread (waits while the file is far enough ahead).
  void emit(size_t i, Window&& w) {
    std::unique_lock<std::mutex> lock(mu);
    decoders_cv.wait(lock, [&] { return stop || slots[i].queue.size() < kWindowsAhead; });
    if (stop) throw Stopped{};
    slots[i].queue.push_back(std::move(w));
    model_cv.notify_all();
  }

  Window make_window(const float* wave, size_t n, int64_t k) const {
    const data::FrontEndConfig& fe = input.fe;
    std::vector<float> clip(size_t(fe.clip_samples), 0.f);  // zero-padded past the recording's end
    std::copy(wave, wave + std::min(n, clip.size()), clip.begin());
    Window w;
    w.index = k;
    w.x.resize(size_t(fe.n_mels) * size_t(fe.frames()));
    logmel.compute(clip.data(), w.x.data());
    data::normalise_logmel(w.x.data(), int64_t(w.x.size()), input.mean, input.stddev);
    return w;
  }

  // Decodes file i into windows; the outcome goes into its slot.
  void decode(size_t i) {
    FileTags tags;
    tags.path = files[i];
    try {
      data::AudioReader reader(files[i], input.fe.sample_rate);
      tags.sample_rate = reader.sample_rate();
      tags.channels = reader.channels();
      std::vector<float> buf;  // the recording from sample buf_start on
      int64_t buf_start = 0, k = 0;
      while (reader.read(buf)) {
        const int64_t have = buf_start + int64_t(buf.size());
        for (; plan.start(k) + plan.window <= have; ++k)
          emit(i, make_window(buf.data() + (plan.start(k) - buf_start), size_t(plan.window), k));
        const int64_t drop = plan.start(k) - buf_start;  // samples no later window needs
        buf.erase(buf.begin(), buf.begin() + drop);
        buf_start += drop;
      }
      tags.samples = buf_start + int64_t(buf.size());
      tags.windows = plan.count(tags.samples);
      for (; k < tags.windows; ++k)  // the padded last window (or the only one of a short file)
        emit(i, make_window(buf.data() + (plan.start(k) - buf_start), size_t(tags.samples - plan.start(k)), k));
      tags.duration_s = double(reader.frames_decoded()) / reader.sample_rate();
    } catch (const Stopped&) {
      throw;
    } catch (const UserError& e) {
      tags.error = e.what();
    } catch (const std::exception& e) {
      tags.error = files[i] + ": internal error: " + e.what();
    }
    std::lock_guard<std::mutex> lock(mu);
    FileSlot& s = slots[i];
    tags.scores = std::move(s.tags.scores);  // what the model thread filled so far
    s.tags = std::move(tags);
    s.done = true;
    model_cv.notify_all();
  }

  void decoder_loop() {
    for (;;) {
      size_t i;
      {
        std::unique_lock<std::mutex> lock(mu);
        decoders_cv.wait(lock, [&] { return stop || next_file >= files.size() || next_file < model_file + size_t(opt.jobs); });
        if (stop || next_file >= files.size()) return;
        i = next_file++;
      }
      try {
        decode(i);
      } catch (const Stopped&) {
        return;
      }
    }
  }

  // Model side: scores a batch of (file, window) inputs into their slots.
  void score(std::vector<std::pair<size_t, Window>>& batch) {
    if (batch.empty()) return;
    const data::FrontEndConfig& fe = input.fe;
    const int64_t B = int64_t(batch.size()), MT = int64_t(fe.n_mels) * fe.frames();
    Tensor x = Tensor::empty({B, fe.n_mels, fe.frames(), 1});  // (B, M, T, 1)
    float* px = x.data<float>();
    for (int64_t b = 0; b < B; ++b) std::memcpy(px + b * MT, batch[size_t(b)].second.x.data(), size_t(MT) * sizeof(float));
    autograd::NoGradGuard no_grad;
    Generator unused(0);
    const std::vector<float> p = ops::sigmoid(model->forward(x.to(opt.device), unused)).to(Device::CPU).to_vector<float>();
    {
      std::lock_guard<std::mutex> lock(mu);
      for (int64_t b = 0; b < B; ++b) {
        FileSlot& s = slots[batch[size_t(b)].first];
        const int64_t k = batch[size_t(b)].second.index;
        if (int64_t(s.tags.scores.size()) < (k + 1) * K) s.tags.scores.resize(size_t((k + 1) * K));
        std::copy(p.begin() + b * K, p.begin() + (b + 1) * K, s.tags.scores.begin() + k * K);
        --s.unscored;
      }
    }
    batch.clear();
    if (opt.on_batch) opt.on_batch(B);
  }

  void run(const std::vector<std::string>& in_files, const std::function<void(size_t, FileTags&)>& on_file) {
    files = in_files;
    slots.clear();
    next_file = model_file = 0;
    stop = false;
    std::vector<std::thread> decoders;
    auto finish = [&] {
      {
        std::lock_guard<std::mutex> lock(mu);
        stop = true;
      }
      decoders_cv.notify_all();
      for (auto& t : decoders) t.join();
      decoders.clear();
    };
    try {
      const int threads = std::max(1, std::min<int>(opt.jobs, int(files.size())));
      for (int t = 0; t < threads; ++t) decoders.emplace_back([this] { decoder_loop(); });
      std::vector<std::pair<size_t, Window>> batch;
      size_t reported = 0;  // files before this one have been handed to on_file
      auto report_ready = [&](size_t upto) {
        for (; reported < upto; ++reported) {
          FileTags tags;
          {
            std::lock_guard<std::mutex> lock(mu);
            FileSlot& s = slots[reported];
            if (s.unscored > 0) return;
            tags = std::move(s.tags);
            slots.erase(reported);
          }
          if (!tags.error.empty()) tags.scores.clear();
          on_file(reported, tags);
        }
      };
      for (size_t f = 0; f < files.size(); ++f) {
        {
          std::lock_guard<std::mutex> lock(mu);
          model_file = f;
        }
        decoders_cv.notify_all();
        for (;;) {
          std::unique_lock<std::mutex> lock(mu);
          model_cv.wait(lock, [&] { return !slots[f].queue.empty() || slots[f].done; });
          if (slots[f].queue.empty()) break;
          batch.emplace_back(f, std::move(slots[f].queue.front()));
          slots[f].queue.pop_front();
          ++slots[f].unscored;
          lock.unlock();
          decoders_cv.notify_all();
          if (int(batch.size()) == opt.batch) score(batch);
        }
        report_ready(f);  // files whose windows are all scored (f itself waits for its last batch)
      }
      score(batch);
      report_ready(files.size());
    } catch (...) {
      finish();
      throw;
    }
    finish();
  }
};

Tagger::Tagger(std::shared_ptr<models::AudioTagger> model, const data::ModelInput& input, const TagOptions& opt)
    : impl_(std::make_unique<Impl>(std::move(model), input, opt)) {}
Tagger::~Tagger() = default;

const WindowPlan& Tagger::plan() const { return impl_->plan; }
int Tagger::num_classes() const { return impl_->K; }
const models::AudioTagger& Tagger::model() const { return *impl_->model; }

void Tagger::run(const std::vector<std::string>& files, const std::function<void(size_t, FileTags&)>& on_file) {
  impl_->run(files, on_file);
}

}  // namespace engine::tag
