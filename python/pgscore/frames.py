"""DataFrames into temporary tables (binary COPY) with the column types ml.train expects.

The mapping decides what a column becomes for ml.train and for the row form of
ml.predict: numbers stay numbers (integers as bigint, so an integer label with few
values is a class label), booleans booleans, strings and pandas categoricals text
(categories, or numbers when the text is numeric), datetimes timestamps, timedeltas
intervals. NaN, None, NA and NaT are SQL NULL: a missing value.
"""
import itertools
import time

import numpy as np
import pandas as pd
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

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


# pandas' own inference (C speed) of an object column's values, NaN and None skipped
_INFERRED = {"boolean": "boolean", "integer": "bigint", "floating": "double precision",
             "mixed-integer-float": "double precision", "decimal": "double precision",
             "string": "text", "empty": "text", "categorical": "text"}


def _object_type(name, series):
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred in _INFERRED:
        return _INFERRED[inferred]
    if inferred in ("datetime", "datetime64", "date"):
        return "timestamp"
    if inferred in ("timedelta", "timedelta64"):
        return "interval"
    if inferred == "mixed":
        odd = next((v for v in series if isinstance(v, (dict, list, tuple, set))), None)
        if odd is not None:
            raise TypeError(f"column {name!r} holds {type(odd).__name__} values, which are not features: "
                            "drop it or convert it")
        return "text"
    raise TypeError(f"column {name!r} holds {inferred} values, which are not features: drop it or convert it")


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
    if isinstance(dtype, pd.StringDtype):
        return "text"
    if pd.api.types.is_string_dtype(dtype) or dtype == object:
        return _object_type(name, series)
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


# ---------------------------------------------------------------- binary COPY by numpy
# PostgreSQL's binary COPY format written with numpy, no Python object per value:
# 100,000 rows in a few hundredths of a second where psycopg's write_row takes a few
# tenths (scoring a DataFrame should cost about what scoring a table costs). Rows are
# grouped by their layout (which fields are NULL, how long each text is): within a group
# every row has the same byte layout, one numpy structured array. Rows go out grouped,
# not in frame order: the POSITION column (or nothing, for training) needs no order.
# For numbers, booleans and text; frames with other types go through write_row.

_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_MAX_LAYOUTS = 2000


def _field(series, kind):
    """(data length of each row, -1 for NULL; the values as a numpy array, text as byte
    strings; each row's length code, 0..count-1; count, the distinct lengths)."""
    if kind == "text":
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        encoded = [(u if isinstance(u, str) else str(u)).encode() for u in uniques]
        sizes = np.array([len(e) for e in encoded] + [-1], dtype=np.int64)
        width = max((len(e) for e in encoded), default=0)
        table = np.array(encoded + [b""], dtype=f"S{max(width, 1)}")
        distinct, size_codes = np.unique(sizes, return_inverse=True)
        # code -1 (missing) picks the entries at the end
        return sizes[codes], table[codes], size_codes.reshape(-1)[codes], len(distinct)
    missing = series.isna().to_numpy()
    if kind == "double precision":
        values, code = series.to_numpy(dtype=float, na_value=np.nan), ">f8"
    elif kind == "bigint":
        values, code = series.to_numpy(dtype=np.int64, na_value=0), ">i8"
    elif kind == "boolean":
        values, code = series.to_numpy(dtype=bool, na_value=False), "u1"
    else:
        return None
    any_missing = bool(missing.any())
    return (np.where(missing, -1, np.dtype(code).itemsize), values.astype(code),
            missing.astype(np.int64), 2 if any_missing else 1)


def _layout_groups(fields):
    """Each row's layout number (rows alike in every field length share one), or None
    beyond _MAX_LAYOUTS. One integer key per row, mixed radix over the columns' length
    codes (a column's codes come from its few distinct lengths, not from sorting rows)."""
    n = len(fields[0][0])
    key = np.zeros(n, dtype=np.int64)
    radix = 1
    for lengths, _, length_codes, count in fields:
        if count == 1:
            continue
        radix *= count
        if radix > 2 ** 40:
            return None
        key = key * count + length_codes
    if radix <= 4 * n + 1024:
        used = np.bincount(key, minlength=radix) > 0
        group = (np.cumsum(used) - 1)[key]
        groups = int(used.sum())
    else:
        keys, group = np.unique(key, return_inverse=True)
        group, groups = group.reshape(-1), len(keys)
    return (group, groups) if groups <= _MAX_LAYOUTS else None


_PACKED_KINDS = {"text", "double precision", "bigint", "boolean"}
# rows packed at a time: the previous chunk travels (QueuedLibpqWriter's thread) while
# the next one is packed
_CHUNK_ROWS = 25_000


def _packed_rows(frame, kinds, first_position):
    """The frame's rows (with positions from first_position, if given) in binary COPY
    tuple format; a frame with too many layouts is packed in halves."""
    n = len(frame)
    if n == 0:
        return b""
    fields = [_field(frame[column], kind) for column, kind in zip(frame.columns, kinds)]
    if first_position is not None:
        fields.append(_field(pd.Series(np.arange(first_position, first_position + n, dtype=np.int64)), "bigint"))
    grouping = _layout_groups(fields)
    if grouping is None:
        half = n // 2
        return (_packed_rows(frame.iloc[:half], kinds, first_position) +
                _packed_rows(frame.iloc[half:], kinds, None if first_position is None else first_position + half))
    group, groups = grouping
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(groups + 1))
    chunks = []
    for g in range(groups):
        rows = order[bounds[g]:bounds[g + 1]]
        layout = [int(f[0][rows[0]]) for f in fields]
        spec = [("count", ">i2")]
        for j, size in enumerate(layout):
            spec.append((f"l{j}", ">i4"))
            if size > 0:
                values = fields[j][1]
                spec.append((f"v{j}", values.dtype.str if values.dtype.kind != "S" else f"S{size}"))
        block = np.empty(len(rows), dtype=spec)
        block["count"] = len(fields)
        for j, size in enumerate(layout):
            block[f"l{j}"] = size
            if size > 0:
                block[f"v{j}"] = fields[j][1] if groups == 1 else fields[j][1][rows]
        chunks.append(block.tobytes())
    return b"".join(chunks)


def send(cursor, frame, table, positions=False, timings=None):
    """Creates pg_temp.<table> (dropped at commit) from the frame and fills it with one
    binary COPY; with positions, a bigint column POSITION numbers the rows from 0. With a
    dict ``timings``, adds the seconds spent packing to timings["pack"]."""
    names = column_names(frame)
    kinds = [sql_type(n, frame[c]) for n, c in zip(names, frame.columns)]
    columns = [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(k)) for n, k in zip(names, kinds)]
    copy_names = [sql.Identifier(n) for n in names]
    copy_types = [_COPY_TYPES[k] for k in kinds]
    if positions:
        columns.append(sql.SQL("{} bigint").format(sql.Identifier(POSITION)))
        copy_names.append(sql.Identifier(POSITION))
        copy_types.append("int8")
    cursor.execute(sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
        sql.Identifier(table), sql.SQL(", ").join(columns)))
    packed = len(frame) > 0 and len(names) > 0 and all(k in _PACKED_KINDS for k in kinds)
    with cursor.copy(sql.SQL("COPY pg_temp.{} ({}) FROM STDIN (FORMAT binary)").format(
            sql.Identifier(table), sql.SQL(", ").join(copy_names)),
            writer=QueuedLibpqWriter(cursor) if packed else None) as copy:
        if packed:
            copy.write(_HEADER)
            for start in range(0, len(frame), _CHUNK_ROWS):
                began = time.perf_counter()
                packed_rows = _packed_rows(frame.iloc[start:start + _CHUNK_ROWS], kinds, start if positions else None)
                if timings is not None:
                    timings["pack"] = timings.get("pack", 0.0) + time.perf_counter() - began
                copy.write(packed_rows)
            copy.write(b"\xff\xff")              # the trailer: a field count of -1
        else:
            copy.set_types(copy_types)
            for row in zip(*(_values(frame[c], k) for c, k in zip(frame.columns, kinds)),
                           *([range(len(frame))] if positions else [])):
                copy.write_row(row)
    return dict(zip(names, kinds))
