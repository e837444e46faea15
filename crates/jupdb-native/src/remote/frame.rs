//! `Frame`: one received message frame, handed to Python without a copy.

use bytes::BytesMut;
use jupdb_protocol::Bytes;
use pyo3::ffi;
use pyo3::prelude::*;
use std::os::raw::c_int;
use std::sync::Mutex;

/// A bytes-like object over a received frame (a message buffer).
///
/// It supports the buffer protocol, so `memoryview(frame)`, `bytes(frame)`
/// and `pickle.loads(data, buffers=[frame])` use the received memory itself.
/// A frame that owns its memory is writable, so a fetched NumPy array is an
/// ordinary array.
#[pyclass(frozen, module = "jupdb._native")]
pub struct Frame {
    data: Data,
}

enum Data {
    /// Shared with the message it came in (read-only).
    Shared(Bytes),
    /// This frame's alone: Python may write to it through the buffer. The
    /// allocation may hold other frames of the same read, at other offsets;
    /// no other handle covers this range.
    Owned(Bytes),
}

/// Alignment that lets any NumPy dtype use the memory in place.
const ALIGN: usize = 16;

impl Frame {
    /// A read-only view of a buffer that stays part of its message.
    pub fn shared(data: Bytes) -> Self {
        Frame {
            data: Data::Shared(data),
        }
    }

    /// A received buffer handed over for good (the message it came in is
    /// gone): writable, and aligned for NumPy. The received memory itself is
    /// used when it is aligned (large buffers, read into their own allocation,
    /// usually are); otherwise it is copied once into aligned memory.
    pub fn owned(data: Bytes) -> Self {
        let data = if (data.as_ptr() as usize).is_multiple_of(ALIGN) {
            data
        } else {
            BytesMut::from(&data[..]).freeze()
        };
        Frame {
            data: Data::Owned(data),
        }
    }

    fn raw(&self) -> (*mut u8, usize, bool) {
        match &self.data {
            Data::Shared(bytes) => (bytes.as_ptr() as *mut u8, bytes.len(), true),
            // Written only by Python through the exported buffer, never by Rust.
            Data::Owned(bytes) => (bytes.as_ptr() as *mut u8, bytes.len(), false),
        }
    }
}

#[pymethods]
impl Frame {
    fn __len__(&self) -> usize {
        self.raw().1
    }

    fn __repr__(&self) -> String {
        format!("<jupdb Frame of {} bytes>", self.raw().1)
    }

    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let (ptr, len, readonly) = slf.get().raw();
        // The view keeps `slf` alive, and the memory never moves while it lives.
        let filled = ffi::PyBuffer_FillInfo(
            view,
            slf.as_ptr(),
            ptr.cast(),
            len as ffi::Py_ssize_t,
            readonly as c_int,
            flags,
        );
        if filled == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }
}

/// A view of a bytes-like object's memory (bytes, bytearray, memoryview,
/// PickleBuffer...): the exporter keeps the memory valid until it is released.
pub(super) struct BufferView {
    view: ffi::Py_buffer,
}

// SAFETY: the view is only read from other threads, and released with the GIL
// (see `release_sent_buffers`).
unsafe impl Send for BufferView {}

impl BufferView {
    pub(super) fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut view = std::mem::MaybeUninit::<ffi::Py_buffer>::uninit();
        // SAFETY: a successful PyObject_GetBuffer fills `view`.
        unsafe {
            if ffi::PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), ffi::PyBUF_C_CONTIGUOUS) == -1 {
                return Err(PyErr::fetch(obj.py()));
            }
            Ok(BufferView {
                view: view.assume_init(),
            })
        }
    }
}

impl AsRef<[u8]> for BufferView {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: valid for `len` bytes until released, which happens only after
        // every frame made from this view is gone.
        unsafe { std::slice::from_raw_parts(self.view.buf as *const u8, self.view.len as usize) }
    }
}

/// Views whose frames have been sent, waiting for a thread with the GIL to
/// release them (the socket writer, which drops the frames, never takes the GIL).
static SENT: Mutex<Vec<SentView>> = Mutex::new(Vec::new());

struct SentView(ffi::Py_buffer);

// SAFETY: only released, with the GIL, in `release_sent_buffers`.
unsafe impl Send for SentView {}

/// The frame that shares its memory with a sent view; its drop hands the view
/// over for release instead of releasing it (which needs the GIL).
struct SendingView(Option<BufferView>);

impl AsRef<[u8]> for SendingView {
    fn as_ref(&self) -> &[u8] {
        self.0.as_ref().map_or(&[], AsRef::as_ref)
    }
}

impl Drop for SendingView {
    fn drop(&mut self) {
        if let Some(view) = self.0.take() {
            let view = std::mem::ManuallyDrop::new(view);
            SENT.lock().unwrap_or_else(|e| e.into_inner()).push(SentView(view.view));
        }
    }
}

/// A frame over a bytes-like object's own memory, without a copy: for large
/// buffers (a NumPy array's data) on their way out. The object stays alive
/// until the frame has been sent and `release_sent_buffers` has run.
pub fn sending_frame(obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    Ok(Bytes::from_owner(SendingView(Some(BufferView::new(obj)?))))
}

/// Releases the views of frames that have been sent. Needs the GIL.
pub fn release_sent_buffers(_py: Python<'_>) {
    let sent = std::mem::take(&mut *SENT.lock().unwrap_or_else(|e| e.into_inner()));
    for SentView(mut view) in sent {
        unsafe { ffi::PyBuffer_Release(&mut view) };
    }
}

impl Drop for BufferView {
    fn drop(&mut self) {
        // Only views made and dropped on a thread that holds the GIL get here.
        unsafe { ffi::PyBuffer_Release(&mut self.view) };
    }
}
