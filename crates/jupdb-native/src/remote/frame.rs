//! `Frame`: one received message frame, handed to Python without a copy.

use jupdb_protocol::Bytes;
use pyo3::ffi;
use pyo3::prelude::*;
use std::os::raw::c_int;

/// A read-only bytes-like object over a received frame (a message buffer).
///
/// It supports the buffer protocol, so `memoryview(frame)`, `bytes(frame)`
/// and `pickle.loads(data, buffers=[frame])` read the received memory itself.
#[pyclass(frozen, module = "jupdb._native")]
pub struct Frame {
    data: Bytes,
}

impl Frame {
    pub fn new(data: Bytes) -> Self {
        Frame { data }
    }
}

#[pymethods]
impl Frame {
    fn __len__(&self) -> usize {
        self.data.len()
    }

    fn __repr__(&self) -> String {
        format!("<jupdb Frame of {} bytes>", self.data.len())
    }

    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let data = &slf.get().data;
        // The view keeps `slf` alive, and `Bytes` never moves or changes its data.
        let filled = ffi::PyBuffer_FillInfo(
            view,
            slf.as_ptr(),
            data.as_ptr() as *mut std::os::raw::c_void,
            data.len() as ffi::Py_ssize_t,
            1,
            flags,
        );
        if filled == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }
}

/// The bytes of any bytes-like object (bytes, bytearray, memoryview,
/// PickleBuffer, Frame), copied once into a frame that can be sent.
pub fn frame_from(obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(frame) = obj.downcast::<Frame>() {
        return Ok(frame.get().data.clone());
    }
    let mut view = std::mem::MaybeUninit::<ffi::Py_buffer>::uninit();
    // SAFETY: a successful PyObject_GetBuffer fills `view`, released below.
    unsafe {
        if ffi::PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), ffi::PyBUF_C_CONTIGUOUS) == -1 {
            return Err(PyErr::fetch(obj.py()));
        }
        let mut view = view.assume_init();
        let data = std::slice::from_raw_parts(view.buf as *const u8, view.len as usize);
        let frame = Bytes::copy_from_slice(data);
        ffi::PyBuffer_Release(&mut view);
        Ok(frame)
    }
}
