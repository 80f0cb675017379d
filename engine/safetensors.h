// safetensors I/O (https://github.com/huggingface/safetensors), the checkpoint format PyTorch users
// exchange.
//
// File layout:
//   [8 bytes]  N, little-endian u64: header length
//   [N bytes]  JSON object {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//              "__metadata__": {"key": "value", ...}}, padded with spaces to a multiple of 8 bytes
//   [rest]     the byte buffer; offsets are relative to its start and must cover it exactly, no gaps
// Supported dtypes: F32 F64 BF16 I32 I64 U8. Data is little-endian row-major.
//
// Loading validates like the Rust crate; every problem is a UserError naming the file and the problem,
// never a crash or an allocation larger than the file.
#pragma once
#include <map>
#include <string>

#include "engine/module.h"

namespace engine {

// Writes atomically: a temporary file in the same directory, renamed over `path` once complete, so an
// error never leaves a partial file. Tensors may live on any device. Tensors are laid out by decreasing
// element size (keeping the given order within a size) so that each one is aligned to its element size.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  NamedTensors tensors;  // CPU tensors, in file offset order
  std::map<std::string, std::string> metadata;
};
SafetensorsFile load_safetensors(const std::string& path);

// The module form of safetensors.torch.save_model: state_dict() with each alias group stored once under
// its lexicographically first name; every dropped name is recorded in the metadata as
// "<dropped name>": "<kept name>" unless the caller's metadata already uses that key.
void save_module(const Module& m, const std::string& path, const std::map<std::string, std::string>& metadata = {});
// load_safetensors + Module::load_state_dict (alias groups are satisfied by any one name).
void load_module(Module& m, const std::string& path);

}  // namespace engine
