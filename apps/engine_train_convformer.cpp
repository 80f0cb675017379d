// engine_train_convformer: trains the paper's convformer audio tagger; the command line and the loop are in train/.
#include "engine/app_main.h"
#include "train/cli.h"

static int run(int argc, char** argv) { return engine::train::train_app("convformer", argc, argv); }

int main(int argc, char** argv) { return engine::run_app("engine_train_convformer", run, argc, argv); }
