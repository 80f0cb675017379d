// engine_tag: AudioSet labels for audio files and folders; the code is tag/cli.cpp and tag/tagger.cpp.
#include "engine/app_main.h"
#include "tag/cli.h"

int main(int argc, char** argv) { return engine::run_app("engine_tag", engine::tag::tag_app, argc, argv); }
