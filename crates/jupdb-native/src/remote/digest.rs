//! `digest`: tells whether bytes-like objects still hold what they held,
//! without keeping a copy of them (`jump_context` asks it of a value's pickle
//! and out-of-band buffers: a 100 MB array is hashed faster than copied).

use super::frame::BufferView;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Buffers at least this long are hashed on several threads.
const PARALLEL_FROM: usize = 1 << 20;

/// A BLAKE3 digest of the bytes of `buffers` (each bytes-like and
/// C-contiguous), each preceded by its length; hashed with the GIL released.
#[pyfunction]
pub fn digest<'py>(py: Python<'py>, buffers: Vec<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyBytes>> {
    let views = buffers.iter().map(BufferView::new).collect::<PyResult<Vec<_>>>()?;
    let slices: Vec<&[u8]> = views.iter().map(AsRef::as_ref).collect();
    let hash = py.allow_threads(|| {
        let mut hasher = blake3::Hasher::new();
        for data in slices {
            hasher.update(&(data.len() as u64).to_le_bytes());
            if data.len() >= PARALLEL_FROM {
                hasher.update_rayon(data);
            } else {
                hasher.update(data);
            }
        }
        hasher.finalize()
    });
    drop(views); // released here, with the GIL
    Ok(PyBytes::new(py, hash.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_sees_a_changed_byte_and_where_buffers_split() {
        pyo3::prepare_freethreaded_python();
        Python::with_gil(|py| {
            let of = |parts: &[&[u8]]| {
                let objects = parts.iter().map(|p| PyBytes::new(py, p).into_any()).collect();
                digest(py, objects).unwrap().as_bytes().to_vec()
            };
            let big = vec![7u8; 3 << 20];
            let mut changed = big.clone();
            changed[2 << 20] = 8;
            assert_eq!(of(&[b"pickle", &big]), of(&[b"pickle", &big]));
            assert_ne!(of(&[b"pickle", &big]), of(&[b"pickle", &changed]));
            assert_ne!(of(&[b"ab", b"c"]), of(&[b"a", b"bc"]));
        });
    }
}
