// Arguments of a plain N-API callback on the data plane's per-notification path (readCredsFd,
// notifIdValid, asCallerFast): the same checks and one-line errors as Args (args.h), at less cost.
// The arguments are fetched once into a stack array (node-addon-api's CallbackInfo allocates one on
// the heap beyond six) and each is checked with a single N-API call (a number with
// napi_get_value_double, a typed array with napi_get_typedarray_info, which refuse anything else)
// instead of a type query first. Nothing allocates.
#ifndef WASMSUP_RAW_ARGS_H
#define WASMSUP_RAW_ARGS_H

#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

#include "arg_rules.h"

namespace wasmsup {

class RawArgs : public NarrowIntegers<RawArgs> {
 public:
  static constexpr size_t kMax = 12;
  RawArgs(napi_env env, napi_callback_info info, const char* function);

  napi_env env() const { return env_; }
  // True when argument i was passed and is not undefined.
  bool Has(size_t i) const;
  bool Integer(size_t i, const char* name, int64_t min, int64_t max, int64_t* out) const;
  // Int32, Uint32, Pid: NarrowIntegers (arg_rules.h).
  bool Bytes(size_t i, const char* name, uint8_t** data, size_t* length) const;
  bool Words(size_t i, const char* name, uint32_t** data, size_t* count) const;

  // Throw, and return nullptr for the callback to return.
  napi_value TypeError(const char* name, const char* what) const;
  napi_value RangeError(const char* name, const char* what) const;

 private:
  napi_env env_;
  const char* function_;
  size_t count_ = 0;
  napi_value argv_[kMax];
};

}  // namespace wasmsup

#endif
