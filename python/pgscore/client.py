"""The client: every call is SQL on schema ml with its values as parameters."""
import contextlib
import json
import time

import numpy as np

import pandas as pd
import psycopg
from psycopg import sql

from . import frames
from .errors import Error, server_errors

_CLASS_INTEGERS = ("smallint", "integer", "bigint")


def connect(dsn=None, **kwargs):
    """A :class:`Client` on a new connection; with ``dsn=None`` libpq's environment
    (PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD, ~/.pgpass) says where. The session's
    temp_buffers is raised to 64MB unless the DSN or the server's configuration set it."""
    with server_errors():
        conn = psycopg.connect(dsn or "", autocommit=True, **kwargs)
        # room for a 100,000-row frame's temporary table in local buffers (default 8MB),
        # taken only as used; settable only before the session's first temporary table
        if _setting_is_default(conn, "temp_buffers"):
            conn.execute("SET temp_buffers = '64MB'")
    return Client(conn)


def _setting_is_default(conn, name):
    return conn.execute("SELECT source = 'default' FROM pg_settings WHERE name = %s", (name,)).fetchone()[0]


def _label_values(texts, label_type, task):
    """ml.predict answers text; back to the label's own type."""
    if task == "regression":
        return [None if t is None else float(t) for t in texts]
    if label_type == "boolean":
        return [None if t is None else t == "true" for t in texts]
    if label_type in _CLASS_INTEGERS:
        return [None if t is None else int(t) for t in texts]
    return list(texts)


class Client:
    """pgscore from Python. Data is a DataFrame (sent with COPY into a temporary table),
    or, where the server reads a source (train, evaluate), also a table or view name or a
    query. Answers line up with the input's index. Server errors raise :class:`Error`."""

    def __init__(self, connection):
        self.connection = connection
        self._versions = {}
        # None, or a dict predict adds seconds per phase to (copy, select, series;
        # frames.send: pack, the DataFrame -> COPY bytes part of copy)
        self.timings = None

    # ------------------------------------------------------------ plumbing

    def close(self):
        self.connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _rows(self, query, params=None):
        with server_errors(), self.connection.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()

    def _frame(self, view, project, order):
        query = sql.SQL("SELECT * FROM ml.{}").format(sql.Identifier(view))
        params = None
        if project is not None:
            query += sql.SQL(" WHERE project = %s")
            params = (project,)
        query += sql.SQL(" ORDER BY ") + sql.SQL(", ").join(sql.Identifier(c) for c in order)
        with server_errors(), self.connection.cursor() as cur:
            cur.execute(query, params)
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    def _source(self, cur, data, persist=None, if_exists="fail"):
        """The source text ml.train and ml.evaluate read: a table, view or query as given,
        a query over a temporary table holding the DataFrame, or with ``persist`` the
        table the DataFrame was written to."""
        if isinstance(data, str):
            if persist is not None:
                raise ValueError("persist= writes a DataFrame to a table; data is already a table, view or query")
            return data
        if if_exists not in ("fail", "replace", "append"):
            raise ValueError(f"if_exists must be fail, replace or append, got {if_exists!r}")
        frame = frames.as_frame(data)
        name = frames.temp_name()
        table = sql.Identifier(name)
        kinds = frames.send(cur, frame, name)
        if persist is None:
            return f"SELECT * FROM pg_temp.{table.as_string(cur)}"
        target = sql.Identifier(*persist) if isinstance(persist, (tuple, list)) else sql.Identifier(*persist.split(".", 1))
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in kinds)
        if if_exists == "append":
            cur.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM pg_temp.{}").format(target, columns, columns, table))
        else:
            if if_exists == "replace":
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
            cur.execute(sql.SQL("CREATE TABLE {} AS SELECT * FROM pg_temp.{}").format(target, table))
        return target.as_string(cur)

    def _version_meta(self, project, version, model=None):
        """(label, label_type, task, classes) of a version (versions never change), or
        of a model value given as bytes."""
        if model is not None:
            return self._rows("""SELECT d -> 'info' ->> 'label', d -> 'info' ->> 'label_type', d -> 'info' ->> 'task',
                                        d -> 'classes' FROM ml.describe(%s::bytea::ml.model) d""", (model,))[0]
        key = (project, version)
        if key not in self._versions:
            rows = self._rows("""SELECT m.label, m.label_type, p.task, ml.describe(m.model) -> 'classes'
                                   FROM ml.models m JOIN ml.projects p ON p.id = m.project_id
                                  WHERE p.name = %s AND m.version = %s""", (project, version))
            if not rows:
                raise Error(f'project "{project}" has no version {version}', sqlstate="42704")
            self._versions[key] = rows[0]
        return self._versions[key]

    # ------------------------------------------------------------ training and scoring

    def train(self, project, data, label, algorithm=None, exclude=None, deploy=None,
              test_fraction=None, seed=None, persist=None, if_exists="fail", **hyperparams):
        """Trains a new version (ml.train). ``data``: a DataFrame, or a table or view name,
        or a query. Hyperparameters are the algorithm's options (``l2=0.5``,
        ``max_depth=4``, ...). Returns the version's row as a dict: project, version,
        algorithm, key_metric, score, deployed, metrics.

        A DataFrame travels in a temporary table, gone after the call: the version then
        cannot be retrained by ``ml.enqueue_run`` or a schedule (their runs refuse its
        source, SQLSTATE 0A000). ``persist="schema.table"`` (or ``"table"``, or a
        ``(schema, table)`` tuple) first writes the DataFrame to that table, in the same
        transaction, and trains from it, so runs and schedules can retrain from the
        table. ``if_exists`` as in pandas' to_sql: ``fail`` (the default: the table must
        be new, else SQLSTATE 42P07), ``replace`` (dropped and created again) or
        ``append`` (the rows added, columns matched by name)."""
        args = [sql.SQL("%(project)s"), sql.SQL("%(source)s"), sql.SQL("%(label)s")]
        params = {"project": project, "label": label}
        named = {"algorithm": algorithm, "exclude": list(exclude) if exclude is not None else None,
                 "deploy": deploy, "test_fraction": test_fraction, "seed": seed,
                 "hyperparams": json.dumps(hyperparams) if hyperparams else None}
        for name, value in named.items():
            if value is not None:
                cast = {"hyperparams": "::jsonb", "exclude": "::text[]", "test_fraction": "::float8",
                        "seed": "::int"}.get(name, "")
                args.append(sql.SQL("{} => %({})s" + cast).format(sql.Identifier(name), sql.SQL(name)))
                params[name] = value
        query = sql.SQL("SELECT (r).* FROM (SELECT ml.train({}) AS r) t").format(sql.SQL(", ").join(args))
        with server_errors(), self.connection.transaction(), self.connection.cursor() as cur:
            params["source"] = self._source(cur, data, persist, if_exists)
            cur.execute(query, params)
            row = cur.fetchone()
            return dict(zip([d.name for d in cur.description], row))

    @contextlib.contextmanager
    def _phase(self, name):
        """Adds the block's wall time to ``self.timings[name]`` when timings is a dict
        (tools/bench_workbench.py's breakdown); free otherwise."""
        if self.timings is None:
            yield
            return
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start

    @staticmethod
    def _model_sql(version, model=None):
        """(the version scored, the model argument, a join) for the deployed version, a
        given one or a model value (bytes)."""
        if model is not None:
            return (sql.SQL("%(version)s::int"), sql.SQL("%(model)s::bytea::ml.model"), sql.SQL(""))
        if version is None:
            # the deployment this statement scores with (STABLE: looked up once per query)
            return (sql.SQL("(SELECT ml.deployed_version(%(project)s))"), sql.SQL("%(project)s"), sql.SQL(""))
        return (sql.SQL("%(version)s::int"), sql.SQL("m.model"),
                sql.SQL(""" CROSS JOIN (SELECT mm.model FROM ml.models mm JOIN ml.projects p ON p.id = mm.project_id
                                         WHERE p.name = %(project)s AND mm.version = %(version)s) m"""))

    def _send(self, cur, frame):
        table = frames.temp_name()
        frames.send(cur, frame, table, positions=True, timings=self.timings)
        return sql.Identifier(table)

    def _score(self, project, data, version, function, model_value=None):
        frame = frames.as_frame(data)
        used, model, join = self._model_sql(version, model_value)
        with server_errors(), self.connection.transaction(), self.connection.cursor() as cur:
            t = self._send(cur, frame)
            # no ORDER BY: the positions put the answers back in order, cheaper than a sort
            cur.execute(sql.SQL("SELECT {used}, {fn}({model}, t), t.{pos} FROM pg_temp.{t} t{join}").format(
                used=used, fn=sql.SQL(function), model=model, pos=sql.Identifier(frames.POSITION), t=t, join=join),
                {"project": project, "version": version, "model": model_value})
            rows = cur.fetchall()
        ordered = [None] * len(rows)
        for r in rows:
            ordered[r[2]] = r
        if version is not None and model_value is None and len(rows) < len(frame):
            self._version_meta(project, version)          # raises: no such version
        used_version = ordered[0][0] if rows else (version if version is not None else self.deployed_version(project))
        return [r[1] for r in ordered], used_version, frame

    def _predictions(self, project, frame, version, model_value=None):
        """(the version used, the predictions, the task): a regression's as a float array
        in row order, a classification's as (label text, positions) pairs. The server answers in a
        few rows, not one per input row: a classification's rows grouped by their
        prediction (a group's positions as one bytea of big-endian int8), a regression's
        predictions as one bytea of float8 (NaN where NULL) with the positions alongside;
        numpy puts them in place."""
        used, model, join = self._model_sql(version, model_value)
        args = {"project": project, "version": version, "model": model_value}
        n = len(frame)
        with self.connection.transaction(), self.connection.cursor(binary=True) as cur:
            task = (self.project_task(project) if model_value is None
                    else self._version_meta(project, version, model_value)[2])
            with self._phase("copy"):
                t = self._send(cur, frame)
            scored = sql.SQL("SELECT ml.predict({model}, t) AS p, t.{pos} AS pos FROM pg_temp.{t} t{join}").format(
                model=model, pos=sql.Identifier(frames.POSITION), t=t, join=join)
            if task == "regression":
                query = sql.SQL("""SELECT {used}, NULL::text, string_agg(int8send(s.pos), ''::bytea),
                                          string_agg(coalesce(float8send(s.p::float8), float8send('NaN')), ''::bytea)
                                     FROM ({scored}) s""")
            else:
                query = sql.SQL("""SELECT {used}, s.p, string_agg(int8send(s.pos), ''::bytea), NULL::bytea
                                     FROM ({scored}) s GROUP BY s.p""")
            with self._phase("select"):
                cur.execute(query.format(used=used, scored=scored), args)
                rows = [r for r in cur.fetchall() if r[2] is not None]
        with self._phase("series"):
            used_version = rows[0][0] if rows else None
            placed = 0
            if task == "regression":
                values = np.full(n, np.nan)
                for _, _, positions, predictions in rows:
                    values[np.frombuffer(positions, dtype=">i8")] = np.frombuffer(predictions, dtype=">f8")
                    placed += len(positions) // 8
            else:
                values = []                              # (label, its rows' positions)
                for _, label, positions, _ in rows:
                    values.append((label, np.frombuffer(positions, dtype=">i8")))
                    placed += len(positions) // 8
        if version is not None and model_value is None and placed < n:
            self._version_meta(project, version)          # raises: no such version
        if used_version is None:
            used_version = version if version is not None else self.deployed_version(project)
        return used_version, values, task

    def predict(self, project, data, version=None, model=None):
        """Predictions of the deployed version (or ``version``) for each row, as a Series
        on the input's index: labels in their own type (bool, int, str), numbers for a
        regression, None where ml.predict is NULL. One COPY and one SELECT answering a
        few rows (see _predictions), so it costs about what scoring a table costs.
        ``model``: a model value as bytes (``SELECT model::bytea FROM ml.models ...``)
        to score with instead, also once its version is dropped (the estimators do)."""
        frame = frames.as_frame(data)
        with server_errors():
            used, values, task = self._predictions(project, frame, version, model)
        if used is None and model is None:
            return pd.Series([None] * len(frame), index=frame.index, dtype=object)
        label, label_type, _, _ = self._version_meta(project, used, model)
        with self._phase("series"):
            if task == "regression":
                return pd.Series(values, index=frame.index, name=label)
            # each distinct label converted once, not once per row
            typed = _label_values([text for text, _ in values], label_type, task)
            if any(text is None for text, _ in values) or len(frame) == 0:
                # a NULL among them: the type pandas infers for the list, as for any list
                out = [None] * len(frame)
                for value, (_, where) in zip(typed, values):
                    for i in where.tolist():
                        out[i] = value
            else:
                out = np.empty(len(frame), dtype={"boolean": bool}.get(
                    label_type, np.int64 if label_type in _CLASS_INTEGERS else object))
                for value, (_, where) in zip(typed, values):
                    out[where] = value
            return pd.Series(out, index=frame.index, name=label)

    def predict_proba(self, project, data, version=None, model=None):
        """Class probabilities, a DataFrame on the input's index with one column per class
        (in the model's class order, named by the classes in the label's type).
        ``model`` as for :meth:`predict`."""
        values, used, frame = self._score(project, data, version, "ml.predict_proba", model)
        if used is None and model is None:
            return pd.DataFrame(index=frame.index)
        label, label_type, task, classes = self._version_meta(project, used, model)
        names = _label_values([str(c).lower() if isinstance(c, bool) else str(c) for c in (classes or [])],
                              label_type, task)
        width = len(names)
        matrix = [v if v is not None else [float("nan")] * width for v in values]
        return pd.DataFrame(matrix, index=frame.index, columns=names)

    def evaluate(self, project, data, version=None):
        """ml.evaluate: the metrics of the deployed version (or ``version``) on labelled
        rows (a DataFrame with the label column, or a table, view or query); a dict."""
        with server_errors(), self.connection.transaction(), self.connection.cursor() as cur:
            source = self._source(cur, data)
            cur.execute("SELECT ml.evaluate(%s, %s, %s::int)", (project, source, version))
            return cur.fetchone()[0]

    # ------------------------------------------------------------ deployment

    def create_project(self, project, task, deploy_policy="best_score"):
        """ml.create_project: a project ahead of training (task classification or
        regression, which the label's type would otherwise decide; deploy policy
        best_score, most_recent or manual)."""
        self._rows("SELECT ml.create_project(%s, %s, %s)", (project, task, deploy_policy))

    def project_task(self, project):
        """The project's task, or None when there is no such project (visible to you)."""
        rows = self._rows("SELECT task FROM ml.projects WHERE name = %s", (project,))
        return rows[0][0] if rows else None

    def deploy(self, project, strategy=None, version=None):
        """ml.deploy: best_score (default), most_recent, rollback or a version. Returns
        the version now serving."""
        if strategy is None:
            strategy = "version" if version is not None else "best_score"
        return self._rows("SELECT ml.deploy(%s, %s, %s::int)", (project, strategy, version))[0][0]

    def rollback(self, project):
        """Back to the version the serving one replaced; returns it."""
        return self.deploy(project, "rollback")

    def drop_version(self, project, version):
        """ml.drop_version: removes a version that was never deployed and that no logged
        prediction, evaluation, drift check or training run refers to (else an Error with
        SQLSTATE 2BP01). Needs the train right on the project."""
        self._rows("SELECT ml.drop_version(%s, %s::int)", (project, version))

    def model_bytes(self, project, version):
        """A version's model as bytes (ml.models.model), for ``predict(..., model=)``."""
        rows = self._rows("""SELECT m.model::bytea FROM ml.models m JOIN ml.projects p ON p.id = m.project_id
                              WHERE p.name = %s AND m.version = %s""", (project, version))
        if not rows:
            raise Error(f'project "{project}" has no version {version}', sqlstate="42704")
        return bytes(rows[0][0])

    def deployed_version(self, project):
        return self._rows("SELECT ml.deployed_version(%s)", (project,))[0][0]

    # ------------------------------------------------------------ the registry as DataFrames

    def projects(self):
        return self._frame("project_overview", None, ["project"])

    def versions(self, project=None):
        return self._frame("versions", project, ["project", "version"])

    def deployments(self, project=None):
        return self._frame("deployment_history", project, ["project", "deployed_at"])

    def runs(self, project=None):
        return self._frame("run_history", project, ["project", "run"])

    def evaluations(self, project=None):
        return self._frame("evaluation_history", project, ["project", "window_end"])

    def drift(self, project=None):
        return self._frame("drift_report", project, ["project", "feature"])

    # ------------------------------------------------------------ monitoring

    def monitor(self, project, **options):
        """ml.monitor(project, ...): configure the project's monitor (window_size,
        drift_threshold, min_labels, action, ...; intervals as text like '5 minutes')."""
        # option names are identifiers (quoted), their values parameters
        args = [sql.SQL("%s")] + [sql.SQL("{} => %s").format(sql.Identifier(k)) for k in options]
        with server_errors(), self.connection.cursor() as cur:
            cur.execute(sql.SQL("SELECT ml.monitor({})").format(sql.SQL(", ").join(args)),
                        [project, *options.values()])

    def run_monitors(self):
        """ml.run_monitors(): run the monitors that are due now (the daemon does this on
        its own); the actions taken as a DataFrame."""
        with server_errors(), self.connection.cursor() as cur:
            cur.execute("SELECT * FROM ml.run_monitors()")
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    def log_predictions(self, project, data):
        """Scores the rows with the deployed version and records them in ml.predictions, as
        the REST gateway does (what monitors read for drift and live accuracy); returns the
        predictions as :meth:`predict` does."""
        frame = frames.as_frame(data)
        table = frames.temp_name()
        with server_errors(), self.connection.transaction(), self.connection.cursor() as cur:
            frames.send(cur, frame, table, positions=True)
            cur.execute(sql.SQL("""
                WITH scored AS (
                  SELECT t.{pos} AS pos, ml.deployed_version(%(project)s) AS version,
                         to_jsonb(t) - {posname} AS features,
                         ml.predict(%(project)s, t) AS prediction, ml.predict_proba(%(project)s, t) AS probabilities
                    FROM pg_temp.{t} t),
                logged AS (
                  INSERT INTO ml.predictions (project, version, features, prediction, probabilities)
                  SELECT %(project)s, version, features, prediction, probabilities FROM scored ORDER BY pos
                  RETURNING 1)
                -- a data-modifying WITH runs once, whether read or not
                SELECT s.version, s.prediction FROM scored s ORDER BY s.pos""").format(
                pos=sql.Identifier(frames.POSITION), posname=sql.Literal(frames.POSITION), t=sql.Identifier(table)),
                {"project": project})
            rows = cur.fetchall()
        if not rows:
            return pd.Series([], index=frame.index, dtype=object)
        label, label_type, task, _ = self._version_meta(project, rows[0][0])
        return pd.Series(_label_values([r[1] for r in rows], label_type, task), index=frame.index, name=label)

    # ------------------------------------------------------------ export

    def export(self, project, version=None, format="onnx"):
        """ml.export: the deployed version (or ``version``) as bytes, ONNX or JSON."""
        return bytes(self._rows("SELECT ml.export(%s, %s::int, %s)", (project, version, format))[0][0])

    def onnx_session(self, project, version=None):
        """An onnxruntime InferenceSession of the exported version (needs onnxruntime:
        ``pip install './python[onnx]'``). Feed it :meth:`onnx_inputs`."""
        try:
            import onnxruntime
        except ImportError as e:
            raise ImportError("onnx_session needs onnxruntime: pip install onnxruntime") from e
        return onnxruntime.InferenceSession(self.export(project, version, "onnx"),
                                            providers=["CPUExecutionProvider"])

    def onnx_inputs(self, project, data, version=None):
        """The exported graph's inputs for a DataFrame of raw columns: ``numeric`` (float32,
        NaN for missing or a missing-value marker like "?") and one string input per
        categorical column, as ml.export documents them."""
        import numpy as np

        if version is None:
            version = self.deployed_version(project)
        rows = self._rows("""SELECT ml.describe(m.model) -> 'info' -> 'preprocess' -> 'columns'
                               FROM ml.models m JOIN ml.projects p ON p.id = m.project_id
                              WHERE p.name = %s AND m.version = %s""", (project, version))
        if not rows:
            raise Error(f'project "{project}" has no version {version}', sqlstate="42704")
        frame = frames.as_frame(data)
        numeric, inputs = [], {}
        for c in rows[0][0]:
            column = frame[c["name"]]
            if c["kind"] == "numeric":
                missing = set(c.get("missing") or [])
                values = [np.nan if (v is None or v is pd.NA or (isinstance(v, float) and v != v)
                                     or (isinstance(v, str) and v.strip() in missing)) else float(v)
                          for v in column.tolist()]
                numeric.append(values)
            else:
                inputs[c["name"]] = np.array([["" if v is None or v is pd.NA or (isinstance(v, float) and v != v)
                                               else str(v)] for v in column.tolist()], dtype=object)
        if numeric:
            inputs = {"numeric": np.array(numeric, dtype=np.float32).T.reshape(len(frame), len(numeric)), **inputs}
        return inputs
