// The command line of engine_tag (apps/engine_tag.cpp), kept in the library so that the app is a one-line main.
#pragma once

namespace engine::tag {

// engine_tag --checkpoint FILE|DIR AUDIO... : exit 0 when every file was tagged, 1 when some failed.
int tag_app(int argc, char** argv);

}  // namespace engine::tag
