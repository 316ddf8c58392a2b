#include "args.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"

namespace wasmsup {

bool Args::Has(size_t i) const {
  if (i >= info_.Length()) return false;
  napi_valuetype type;
  if (napi_typeof(info_.Env(), info_[i], &type) != napi_ok) return false;
  return type != napi_undefined;
}

Napi::Value Args::TypeError(const char* name, const char* what) const {
  char message[256];
  snprintf(message, sizeof message, "%s: %s must be %s", function_, name, what);
  return ThrowTypeError(Env(), message);
}

Napi::Value Args::RangeError(const char* name, const char* what) const {
  char message[256];
  snprintf(message, sizeof message, "%s: %s %s", function_, name, what);
  return ThrowRangeError(Env(), message);
}

bool Args::Integer(size_t i, const char* name, int64_t min, int64_t max, int64_t* out) const {
  napi_env env = Env();
  napi_valuetype type = napi_undefined;
  if (i < info_.Length()) napi_typeof(env, info_[i], &type);
  if (type != napi_number) {
    TypeError(name, "a number");
    return false;
  }
  double value = 0;
  napi_get_value_double(env, info_[i], &value);
  return AcceptInteger(*this, name, value, min, max, out);
}

bool Args::Bool(size_t i, const char* name, bool* out) const {
  napi_valuetype type = napi_undefined;
  if (i < info_.Length()) napi_typeof(Env(), info_[i], &type);
  if (type != napi_boolean) {
    TypeError(name, "a boolean");
    return false;
  }
  napi_get_value_bool(Env(), info_[i], out);
  return true;
}

bool Args::Bytes(size_t i, const char* name, uint8_t** data, size_t* length) const {
  napi_env env = Env();
  bool is_typed_array = false, is_data_view = false;
  if (i < info_.Length()) {
    napi_is_typedarray(env, info_[i], &is_typed_array);
    if (!is_typed_array) napi_is_dataview(env, info_[i], &is_data_view);
  }
  void* base = nullptr;
  if (is_typed_array) {
    napi_typedarray_type type;
    size_t elements = 0;
    if (napi_get_typedarray_info(env, info_[i], &type, &elements, &base, nullptr, nullptr) != napi_ok) {
      TypeError(name, "a readable typed array");
      return false;
    }
    *length = elements * TypedArrayElementSize(type);
  } else if (is_data_view) {
    if (napi_get_dataview_info(env, info_[i], length, &base, nullptr, nullptr) != napi_ok) {
      TypeError(name, "a readable DataView");
      return false;
    }
  } else {
    TypeError(name, "a Uint8Array (or another ArrayBufferView)");
    return false;
  }
  // A detached buffer reports no data; treat it as empty so nothing is ever written through NULL.
  if (base == nullptr) *length = 0;
  *data = static_cast<uint8_t*>(base);
  return true;
}

bool Args::Words(size_t i, const char* name, uint32_t** data, size_t* count) const {
  napi_env env = Env();
  bool is_typed_array = false;
  if (i < info_.Length()) napi_is_typedarray(env, info_[i], &is_typed_array);
  napi_typedarray_type type = napi_int8_array;
  void* base = nullptr;
  size_t elements = 0;
  if (is_typed_array) napi_get_typedarray_info(env, info_[i], &type, &elements, &base, nullptr, nullptr);
  if (!is_typed_array || type != napi_uint32_array) {
    TypeError(name, "a Uint32Array");
    return false;
  }
  if (base == nullptr) elements = 0;
  *data = static_cast<uint32_t*>(base);
  *count = elements;
  return true;
}

bool Args::String(size_t i, const char* name, char* buf, size_t capacity) const {
  napi_env env = Env();
  napi_valuetype type = napi_undefined;
  if (i < info_.Length()) napi_typeof(env, info_[i], &type);
  if (type != napi_string) {
    TypeError(name, "a string");
    return false;
  }
  size_t length = 0;
  napi_get_value_string_utf8(env, info_[i], nullptr, 0, &length);
  if (length + 1 > capacity) {
    char what[64];
    snprintf(what, sizeof what, "is longer than %zu bytes", capacity - 1);
    RangeError(name, what);
    return false;
  }
  napi_get_value_string_utf8(env, info_[i], buf, capacity, &length);
  if (memchr(buf, '\0', length) != nullptr) {
    TypeError(name, "a string without NUL characters");
    return false;
  }
  return true;
}

}  // namespace wasmsup
