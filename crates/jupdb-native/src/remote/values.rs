//! MessagePack values to Python objects and back.

use jupdb_protocol::Value;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// A Python object (None, bool, int, float, str, bytes, list, tuple, dict)
/// as a MessagePack value.
pub fn to_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        Ok(Value::Nil)
    } else if let Ok(b) = obj.downcast::<PyBool>() {
        Ok(Value::Boolean(b.is_true()))
    } else if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            Ok(Value::from(i))
        } else {
            Ok(Value::from(obj.extract::<u64>()?))
        }
    } else if let Ok(f) = obj.downcast::<PyFloat>() {
        Ok(Value::F64(f.value()))
    } else if let Ok(s) = obj.downcast::<PyString>() {
        // Text that is not valid UTF-8 (a lone surrogate printed by the program)
        // travels with replacement characters rather than failing the message.
        Ok(Value::from(s.to_string_lossy().as_ref()))
    } else if let Ok(b) = obj.downcast::<PyBytes>() {
        Ok(Value::Binary(b.as_bytes().to_vec()))
    } else if let Ok(d) = obj.downcast::<PyDict>() {
        let mut map = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            map.push((to_value(&k)?, to_value(&v)?));
        }
        Ok(Value::Map(map))
    } else if let Ok(l) = obj.downcast::<PyList>() {
        l.iter()
            .map(|x| to_value(&x))
            .collect::<PyResult<_>>()
            .map(Value::Array)
    } else if let Ok(t) = obj.downcast::<PyTuple>() {
        t.iter()
            .map(|x| to_value(&x))
            .collect::<PyResult<_>>()
            .map(Value::Array)
    } else {
        Err(PyTypeError::new_err(format!(
            "cannot send a {} in a message (only None, bool, int, float, str, bytes, list, tuple, dict)",
            obj.get_type().name()?
        )))
    }
}

/// A MessagePack value as a Python object. A map key that Python cannot
/// hash (a list or map: MessagePack allows them) is a `TypeError` naming it.
pub fn from_value<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Nil => py.None().into_bound(py),
        Value::Boolean(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Integer(i) => match (i.as_i64(), i.as_u64()) {
            (Some(v), _) => v.into_pyobject(py)?.into_any(),
            (None, Some(v)) => v.into_pyobject(py)?.into_any(),
            _ => py.None().into_bound(py),
        },
        Value::F32(f) => PyFloat::new(py, f64::from(*f)).into_any(),
        Value::F64(f) => PyFloat::new(py, *f).into_any(),
        Value::String(s) => match s.as_str() {
            Some(text) => PyString::new(py, text).into_any(),
            None => PyBytes::new(py, s.as_bytes()).into_any(),
        },
        Value::Binary(b) => PyBytes::new(py, b).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(from_value(py, item)?)?;
            }
            list.into_any()
        }
        Value::Map(pairs) => {
            let dict = PyDict::new(py);
            for (k, v) in pairs {
                let kind = match k {
                    Value::Array(_) => "an array",
                    Value::Map(_) => "a map",
                    _ => "",
                };
                if !kind.is_empty() {
                    return Err(PyTypeError::new_err(format!("a map key must be a scalar, not {kind}")));
                }
                dict.set_item(from_value(py, k)?, from_value(py, v)?)?;
            }
            dict.into_any()
        }
        Value::Ext(_, data) => PyBytes::new(py, data).into_any(),
    })
}

/// The field `name` of a content map (None if absent, or not a map).
pub fn field<'a>(content: &'a Value, name: &str) -> Option<&'a Value> {
    content
        .as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(name))
        .map(|(_, v)| v)
}
