// engine_train_fastvit: trains the paper's fastvit audio tagger; the command line and the loop are in train/.
#include "engine/app_main.h"
#include "train/cli.h"

static int run(int argc, char** argv) { return engine::train::train_app("fastvit", argc, argv); }

int main(int argc, char** argv) { return engine::run_app("engine_train_fastvit", run, argc, argv); }
