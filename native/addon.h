// The addon's parts, one per subject; addon.cc puts them on the module's exports.
#ifndef WASMSUP_ADDON_H
#define WASMSUP_ADDON_H

#include <napi.h>

namespace wasmsup {

void RegisterFds(Napi::Env env, Napi::Object exports);
void RegisterFdInfo(Napi::Env env, Napi::Object exports);
void RegisterSeccomp(Napi::Env env, Napi::Object exports);
void RegisterMemory(Napi::Env env, Napi::Object exports);
void RegisterProc(Napi::Env env, Napi::Object exports);
void RegisterSocket(Napi::Env env, Napi::Object exports);
void RegisterBpf(Napi::Env env, Napi::Object exports);
void RegisterSysinfo(Napi::Env env, Napi::Object exports);
void RegisterInterrupt(Napi::Env env, Napi::Object exports);
void RegisterSignals(Napi::Env env, Napi::Object exports);
void RegisterWatch(Napi::Env env, Napi::Object exports);
void RegisterImpersonate(Napi::Env env, Napi::Object exports);
void RegisterSched(Napi::Env env, Napi::Object exports);
void RegisterMemfd(Napi::Env env, Napi::Object exports);
void RegisterDataPlane(Napi::Env env, Napi::Object exports);
void RegisterXattr(Napi::Env env, Napi::Object exports);

}  // namespace wasmsup

#endif
