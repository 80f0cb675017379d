// The command lines of the training apps (apps/engine_train_<arch>.cpp) and of engine_eval, kept in the
// library so that the apps are one-line mains.
#pragma once
#include <string>

namespace engine::train {

// engine_train_<arch>: --config FILE, --variant dsc|dcls, --summary, --resume DIR, --<section>.<key> VALUE.
int train_app(const std::string& arch, int argc, char** argv);

// engine_eval --checkpoint FILE|DIR DATA.h5
int eval_app(int argc, char** argv);

}  // namespace engine::train
