// The byte layout of every event struct, taken with sizeof/offsetof from
// the very headers the BPF programs are compiled with, so that a test can
// hold the TypeScript decoders to them.
#pragma once
#include <napi.h>

namespace kubepulse {

Napi::Value Layouts(const Napi::CallbackInfo& info);

}  // namespace kubepulse
