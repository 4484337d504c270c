"""DataFrames into temporary tables (binary COPY) with the column types ml.train expects.

The mapping decides what a column becomes for ml.train and for the row form of
ml.predict: numbers stay numbers (integers as bigint, so an integer label with few
values is a class label), booleans booleans, strings and pandas categoricals text
(categories, or numbers when the text is numeric), datetimes timestamps, timedeltas
intervals. NaN, None, NA and NaT are SQL NULL: a missing value.
"""
import itertools
import numbers

import numpy as np
import pandas as pd
from psycopg import sql

# the column that carries each row's position, so answers line up with the input index
POSITION = "pgscore_row__"

# SQL type -> the binary COPY type psycopg writes
_COPY_TYPES = {"boolean": "bool", "bigint": "int8", "numeric": "numeric", "double precision": "float8",
               "text": "text", "timestamp": "timestamp", "timestamptz": "timestamptz", "interval": "interval"}

_names = itertools.count(1)


def temp_name():
    """A fresh temporary table name for this process."""
    return f"pgscore_frame_{next(_names)}"


def as_frame(data, columns=None):
    """A DataFrame from a DataFrame, a Series (one column), a mapping or a 2-D array."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, dict):
        return pd.DataFrame(data)
    array = np.asarray(data)
    if array.ndim != 2:
        raise TypeError(f"expected a DataFrame or a 2-D array, got {type(data).__name__} of shape {array.shape}")
    return pd.DataFrame(array, columns=columns)


def _object_type(name, values):
    present = [v for v in values if v is not None and not (isinstance(v, float) and v != v) and v is not pd.NA]
    if not present:
        return "text"
    if all(isinstance(v, (bool, np.bool_)) for v in present):
        return "boolean"
    if any(isinstance(v, (bool, np.bool_)) for v in present):
        return "text"
    if all(isinstance(v, numbers.Integral) for v in present):
        return "bigint"
    if all(isinstance(v, numbers.Real) for v in present):
        return "double precision"
    if any(isinstance(v, (dict, list, tuple, set, bytes)) for v in present):
        kind = next(type(v).__name__ for v in present if isinstance(v, (dict, list, tuple, set, bytes)))
        raise TypeError(f"column {name!r} holds {kind} values, which are not features: drop it or convert it")
    return "text"


def sql_type(name, series):
    """The SQL type a column is sent as."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "text"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        # uint64 may not fit a bigint
        return "numeric" if str(dtype).lower() == "uint64" else "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "double precision"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamptz" if getattr(dtype, "tz", None) is not None else "timestamp"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "interval"
    if pd.api.types.is_complex_dtype(dtype):
        raise TypeError(f"column {name!r} is complex ({dtype}), which is not a feature type")
    if pd.api.types.is_string_dtype(dtype) or dtype == object:
        return _object_type(name, series.tolist())
    raise TypeError(f"column {name!r} has dtype {dtype}, which pgscore does not send; convert it first")


def _values(series, kind):
    """The column as Python values, None where missing."""
    missing = series.isna().to_numpy()
    if kind == "boolean":
        values = [bool(v) for v in series.where(~missing, False).tolist()]
    elif kind == "bigint":
        values = [int(v) for v in series.where(~missing, 0).tolist()]
    elif kind == "numeric":
        values = [int(v) for v in series.where(~missing, 0).tolist()]
    elif kind == "double precision":
        values = series.to_numpy(dtype=float, na_value=np.nan).tolist()
    elif kind in ("timestamp", "timestamptz"):
        values = [v.to_pydatetime() if not m else None for v, m in zip(series, missing)]
    elif kind == "interval":
        values = [v.to_pytimedelta() if not m else None for v, m in zip(series, missing)]
    else:
        values = [v if isinstance(v, str) else str(v) for v in series.where(~missing, "").tolist()]
    if missing.any():
        values = [None if m else v for v, m in zip(values, missing)]
    return values


def column_names(frame):
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"duplicate column names {dup}: every column needs its own name")
    if POSITION in names:
        raise ValueError(f"the column name {POSITION!r} is reserved by pgscore")
    return names


def send(cursor, frame, table, positions=False):
    """Creates pg_temp.<table> (dropped at commit) from the frame and fills it with one
    binary COPY; with positions, a bigint column POSITION numbers the rows from 0."""
    names = column_names(frame)
    kinds = [sql_type(n, frame[c]) for n, c in zip(names, frame.columns)]
    columns = [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(k)) for n, k in zip(names, kinds)]
    copy_names = [sql.Identifier(n) for n in names]
    copy_types = [_COPY_TYPES[k] for k in kinds]
    data = [_values(frame[c], k) for c, k in zip(frame.columns, kinds)]
    if positions:
        columns.append(sql.SQL("{} bigint").format(sql.Identifier(POSITION)))
        copy_names.append(sql.Identifier(POSITION))
        copy_types.append("int8")
        data.append(range(len(frame)))
    cursor.execute(sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
        sql.Identifier(table), sql.SQL(", ").join(columns)))
    with cursor.copy(sql.SQL("COPY pg_temp.{} ({}) FROM STDIN (FORMAT binary)").format(
            sql.Identifier(table), sql.SQL(", ").join(copy_names))) as copy:
        copy.set_types(copy_types)
        for row in zip(*data):
            copy.write_row(row)
    return dict(zip(names, kinds))
