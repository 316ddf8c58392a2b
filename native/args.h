// Reading JavaScript arguments without allocating: numbers are checked to be integers in range,
// byte buffers are any ArrayBufferView (the view's own offset and length are used). On bad input
// each reader throws TypeError/RangeError naming the function and argument, and returns false.
#ifndef WASMSUP_ARGS_H
#define WASMSUP_ARGS_H

#include <napi.h>
#include <stddef.h>
#include <stdint.h>

#include "arg_rules.h"

namespace wasmsup {

class Args : public NarrowIntegers<Args> {
 public:
  Args(const Napi::CallbackInfo& info, const char* function) : info_(info), function_(function) {}

  Napi::Env Env() const { return info_.Env(); }
  // True when argument i was passed and is not undefined.
  bool Has(size_t i) const;

  bool Integer(size_t i, const char* name, int64_t min, int64_t max, int64_t* out) const;
  // Int32, Uint32, Pid: NarrowIntegers (arg_rules.h).
  bool Bool(size_t i, const char* name, bool* out) const;
  bool Bytes(size_t i, const char* name, uint8_t** data, size_t* length) const;
  bool Words(size_t i, const char* name, uint32_t** data, size_t* count) const;  // Uint32Array
  // A NUL-free string that fits buf with its terminating NUL.
  bool String(size_t i, const char* name, char* buf, size_t capacity) const;

  Napi::Value TypeError(const char* name, const char* what) const;
  Napi::Value RangeError(const char* name, const char* what) const;

 private:
  const Napi::CallbackInfo& info_;
  const char* function_;
};

}  // namespace wasmsup

#endif
