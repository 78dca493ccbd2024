#ifndef SWITCHYARD_CJAVASCRIPTCORE_SHIM_H
#define SWITCHYARD_CJAVASCRIPTCORE_SHIM_H

#include <JavaScriptCore/JavaScript.h>
#include <stdbool.h>

// Exported by libjavascriptcoregtk but declared only in WebKit's private headers
// (JSContextRefPrivate.h, JSBasePrivate.h), which Debian does not ship.

/// Called each time the execution time limit elapses; return true to terminate the script.
typedef bool (*JSShouldTerminateCallback)(JSContextRef ctx, void *context);

/// Sets a CPU-time limit for scripts in `group`; `callback` decides whether to stop them.
JS_EXPORT void JSContextGroupSetExecutionTimeLimit(JSContextGroupRef group, double limit,
                                                   JSShouldTerminateCallback callback, void *context);

/// Removes the limit set by JSContextGroupSetExecutionTimeLimit.
JS_EXPORT void JSContextGroupClearExecutionTimeLimit(JSContextGroupRef group);

/// Heap statistics of the context's VM: heapSize, heapCapacity, extraMemorySize, objectCount, ...
JS_EXPORT JSObjectRef JSGetMemoryUsageStatistics(JSContextRef ctx);

/// Forces a full garbage collection (debugging entry point, exported).
JS_EXPORT void JSSynchronousGarbageCollectForDebugging(JSContextRef ctx);

#endif
