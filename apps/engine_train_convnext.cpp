// engine_train_convnext: trains the paper's convnext audio tagger; the command line and the loop are in train/.
#include "engine/app_main.h"
#include "train/cli.h"

static int run(int argc, char** argv) { return engine::train::train_app("convnext", argc, argv); }

int main(int argc, char** argv) { return engine::run_app("engine_train_convnext", run, argc, argv); }
