#include "raw_args.h"

#include <math.h>
#include <stdio.h>

namespace wasmsup {

RawArgs::RawArgs(napi_env env, napi_callback_info info, const char* function) : env_(env), function_(function) {
  size_t count = kMax;
  if (napi_get_cb_info(env, info, &count, argv_, nullptr, nullptr) != napi_ok) count = 0;
  // Slots past those passed are undefined (napi_get_cb_info fills them); more than kMax are not read.
  count_ = count < kMax ? count : kMax;
}

bool RawArgs::Has(size_t i) const {
  if (i >= count_) return false;
  napi_valuetype type;
  return napi_typeof(env_, argv_[i], &type) == napi_ok && type != napi_undefined;
}

napi_value RawArgs::TypeError(const char* name, const char* what) const {
  char message[256];
  snprintf(message, sizeof message, "%s: %s must be %s", function_, name, what);
  napi_throw_type_error(env_, nullptr, message);
  return nullptr;
}

napi_value RawArgs::RangeError(const char* name, const char* what) const {
  char message[256];
  snprintf(message, sizeof message, "%s: %s %s", function_, name, what);
  napi_throw_range_error(env_, nullptr, message);
  return nullptr;
}

bool RawArgs::Integer(size_t i, const char* name, int64_t min, int64_t max, int64_t* out) const {
  double value = 0;
  if (i >= count_ || napi_get_value_double(env_, argv_[i], &value) != napi_ok) {
    TypeError(name, "a number");
    return false;
  }
  return AcceptInteger(*this, name, value, min, max, out);
}

bool RawArgs::Bytes(size_t i, const char* name, uint8_t** data, size_t* length) const {
  void* base = nullptr;
  napi_typedarray_type type;
  size_t elements = 0;
  if (i < count_ && napi_get_typedarray_info(env_, argv_[i], &type, &elements, &base, nullptr, nullptr) == napi_ok) {
    *length = elements * TypedArrayElementSize(type);
  } else if (i >= count_ || napi_get_dataview_info(env_, argv_[i], length, &base, nullptr, nullptr) != napi_ok) {
    TypeError(name, "a Uint8Array (or another ArrayBufferView)");
    return false;
  }
  // A detached buffer reports no data; treat it as empty so nothing is ever written through NULL.
  if (base == nullptr) *length = 0;
  *data = static_cast<uint8_t*>(base);
  return true;
}

bool RawArgs::Words(size_t i, const char* name, uint32_t** data, size_t* count) const {
  void* base = nullptr;
  napi_typedarray_type type = napi_int8_array;
  size_t elements = 0;
  if (i >= count_ || napi_get_typedarray_info(env_, argv_[i], &type, &elements, &base, nullptr, nullptr) != napi_ok ||
      type != napi_uint32_array) {
    TypeError(name, "a Uint32Array");
    return false;
  }
  if (base == nullptr) elements = 0;
  *data = static_cast<uint32_t*>(base);
  *count = elements;
  return true;
}

}  // namespace wasmsup
