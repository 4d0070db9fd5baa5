// Broken on purpose: a shared library that is not a Sideband plugin at all.
extern "C" __attribute__((visibility("default"))) int some_other_library_function() {
    return 42;
}
