//! Under tests/rust.sh's asan run (BUFPOOL_EXPECT_ASAN set), the sanitizer
//! runtime really is in the process: a run that only seemed instrumented
//! would pass everything and check nothing.

use std::ffi::{c_char, c_void};

unsafe extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

#[test]
fn asan_runtime_is_linked_when_expected() {
    if std::env::var_os("BUFPOOL_EXPECT_ASAN").is_none() {
        return; // a plain run: nothing to check
    }
    // SAFETY: RTLD_DEFAULT (NULL) and a NUL-terminated name.
    let init = unsafe { dlsym(std::ptr::null_mut(), c"__asan_init".as_ptr()) };
    assert!(!init.is_null(), "BUFPOOL_EXPECT_ASAN is set but the ASan runtime is not linked");
    let ub = unsafe { dlsym(std::ptr::null_mut(), c"__ubsan_handle_add_overflow".as_ptr()) };
    assert!(!ub.is_null(), "BUFPOOL_EXPECT_ASAN is set but the UBSan runtime is not linked");
}
