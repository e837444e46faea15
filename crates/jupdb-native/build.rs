fn main() {
    // Exposes cfg(Py_3_11), cfg(Py_3_12), ... so per-version code is chosen at compile time.
    pyo3_build_config::use_pyo3_cfgs();
}
