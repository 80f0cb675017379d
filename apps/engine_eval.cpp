// engine_eval: evaluates a checkpoint on a spectrogram HDF5; the code is train/cli.cpp and train/evaluate.cpp.
#include "engine/app_main.h"
#include "train/cli.h"

int main(int argc, char** argv) { return engine::run_app("engine_eval", engine::train::eval_app, argc, argv); }
