// What the two argument readers (Args in args.h for node-addon-api callbacks, RawArgs in raw_args.h
// for the data plane's plain N-API ones) decide alike: when a number is an integer in range, how big a
// typed array's elements are, and the narrower integer readers built on a reader's Integer().
#ifndef WASMSUP_ARG_RULES_H
#define WASMSUP_ARG_RULES_H

#include <js_native_api_types.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

namespace wasmsup {

// A number read for integer argument `name` into *out when it is an integer in [min, max]; else the
// reader's TypeError or RangeError is thrown and false returned.
template <class Reader>
bool AcceptInteger(const Reader& reader, const char* name, double value, int64_t min, int64_t max, int64_t* out) {
  if (!isfinite(value) || value != trunc(value)) {
    reader.TypeError(name, "an integer");
    return false;
  }
  if (value < static_cast<double>(min) || value > static_cast<double>(max)) {
    char what[128];
    snprintf(what, sizeof what, "is out of range (%lld..%lld)", static_cast<long long>(min), static_cast<long long>(max));
    reader.RangeError(name, what);
    return false;
  }
  *out = static_cast<int64_t>(value);
  return true;
}

inline size_t TypedArrayElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int16_array: case napi_uint16_array: return 2;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: return 4;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: return 8;
    default: return 1;
  }
}

// Int32 (any int32, e.g. an fd: -1 gives EBADF), Uint32 and Pid (1 .. 2^31-1) for a Reader with
// `bool Integer(size_t, const char*, int64_t min, int64_t max, int64_t* out) const`.
template <class Reader>
class NarrowIntegers {
 public:
  bool Int32(size_t i, const char* name, int32_t* out) const { return Narrow(i, name, INT32_MIN, INT32_MAX, out); }
  bool Uint32(size_t i, const char* name, uint32_t* out) const { return Narrow(i, name, 0, UINT32_MAX, out); }
  bool Pid(size_t i, const char* name, int32_t* out) const { return Narrow(i, name, 1, INT32_MAX, out); }

 private:
  template <class T>
  bool Narrow(size_t i, const char* name, int64_t min, int64_t max, T* out) const {
    int64_t value;
    if (!static_cast<const Reader*>(this)->Integer(i, name, min, max, &value)) return false;
    *out = static_cast<T>(value);
    return true;
  }
};

}  // namespace wasmsup

#endif
