// sysinfo(2): the host's own figures, which the SYSINFO emulation primitive (src/emulate/sysinfo.ts)
// starts from before it narrows them to the workload.
#include <errno.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace wasmsup {

namespace {

// sysinfo(out: Float64Array(14)): uptime, loads[3] (raw, scaled by 1 << SI_LOAD_SHIFT), totalram,
// freeram, sharedram, bufferram, totalswap, freeswap, procs, totalhigh, freehigh, mem_unit. Memory
// figures are in units of mem_unit bytes, as the kernel gives them. Doubles hold every value exactly
// below 2^53 bytes.
Napi::Value Sysinfo(const Napi::CallbackInfo& info) {
  Args args(info, "sysinfo");
  uint8_t* bytes;
  size_t length;
  if (!args.Bytes(0, "out", &bytes, &length)) return Napi::Value();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    return args.TypeError("out", "a Float64Array");
  }
  if (length < 14 * sizeof(double)) return args.RangeError("out", "must hold 14 numbers");
  struct sysinfo si;
  if (sysinfo(&si) < 0) return ThrowErrno(info.Env(), "sysinfo", errno);
  double values[14] = {
      static_cast<double>(si.uptime),   static_cast<double>(si.loads[0]),  static_cast<double>(si.loads[1]),
      static_cast<double>(si.loads[2]), static_cast<double>(si.totalram),  static_cast<double>(si.freeram),
      static_cast<double>(si.sharedram), static_cast<double>(si.bufferram), static_cast<double>(si.totalswap),
      static_cast<double>(si.freeswap), static_cast<double>(si.procs),     static_cast<double>(si.totalhigh),
      static_cast<double>(si.freehigh), static_cast<double>(si.mem_unit),
  };
  memcpy(bytes, values, sizeof values);
  return info.Env().Undefined();
}

}  // namespace

void RegisterSysinfo(Napi::Env env, Napi::Object exports) {
  exports.Set("sysinfo", Napi::Function::New(env, Sysinfo, "sysinfo"));
}

}  // namespace wasmsup
