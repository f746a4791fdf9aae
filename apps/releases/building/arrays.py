"""Arrow arrays and scalars from Python values, built without pyarrow importing pandas.

``pa.array`` and ``pa.scalar`` on a Python list, range or value (and a plain ``int``, ``float``
or ``str`` handed to a compute function, which pyarrow turns into ``pa.scalar``) first ask
pandas whether the value is a pandas object, importing it: about 45 MB of RSS that stays for
the rest of the build. The builders here fill ``array.array`` buffers, or pyarrow's string
builder, instead; they give the same arrays as ``pa.array(values, type)``.
"""

from __future__ import annotations

import array
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

# The array.array typecode holding each fixed-width Arrow type built here, by type name.
_TYPECODES = {"int64": "q", "int32": "i", "int8": "b", "double": "d"}


def values_array(values: Sequence[Any], type: pa.DataType) -> pa.Array:
    """``pa.array(values, type)`` for ``type`` int64, int32, int8, double, bool or string;
    None is null."""
    import pyarrow as pa

    if type == pa.string():
        builder = pa.lib.StringBuilder()
        builder.append_values(values)
        return builder.finish()
    if type == pa.bool_():
        return values_array(values, pa.int8()).cast(pa.bool_())
    code = _TYPECODES.get(str(type))
    if code is None:
        raise TypeError(f"no pandas-free builder for {type}")
    if any(value is None for value in values):
        data = array.array(code, [0 if value is None else value for value in values])
        valid = array.array("b", [value is not None for value in values])
        bitmap = _from_buffer(pa.int8(), valid).cast(pa.bool_()).buffers()[1]
    else:
        data, bitmap = array.array(code, values), None
    return pa.Array.from_buffers(type, len(data), [bitmap, pa.py_buffer(data)])


def int64_array(values: Iterable[int]) -> pa.Array:
    """``pa.array(values, pa.int64())`` for values without nulls (a range, a generator)."""
    import pyarrow as pa

    return _from_buffer(pa.int64(), array.array("q", values))


def scalar(value: bool | int | float | str, type: pa.DataType | None = None) -> pa.Scalar:
    """``pa.scalar(value, type)``; without ``type``, the type pyarrow infers for a bool, int,
    float or str (bool, int64, double, string), as it does for one handed to pyarrow.compute."""
    import pyarrow as pa

    if type is None:
        if isinstance(value, bool):
            type = pa.bool_()
        elif isinstance(value, int):
            type = pa.int64()
        elif isinstance(value, float):
            type = pa.float64()
        elif isinstance(value, str):
            type = pa.string()
        else:
            raise TypeError(f"no pandas-free scalar for {value!r}")
    return values_array([value], type)[0]


def _from_buffer(type: pa.DataType, data: array.array[Any]) -> pa.Array:
    import pyarrow as pa

    return pa.Array.from_buffers(type, len(data), [None, pa.py_buffer(data)])
