"""scikit-learn estimators that train and score inside PostgreSQL.

    from sklearn.model_selection import cross_val_score
    from pgscore.sklearn import PgscoreClassifier
    cross_val_score(PgscoreClassifier(dsn, "naive_bayes"), X, y, cv=5)

Each ``fit`` is one ``ml.train`` on all of the rows it is given (``test_fraction`` 0:
scikit-learn holds data out itself) in the project ``project`` (default
``sklearn_classification`` / ``sklearn_regression``, created on first use with the deploy
policy ``manual``, so these versions never serve ``ml.predict(project, ...)``). The fit
keeps the trained model (``model_``, bytes) and scores with it, so by default
(``keep_versions=False``) it drops the version again (``ml.drop_version``) at once:
a ``cross_val_score`` or ``GridSearchCV`` leaves no version behind. With
``keep_versions=True`` every fit's version stays in the registry (``version_``; ml.versions
lists it with its hyperparameters and row counts) and can be deployed or exported. The
data travels in temporary tables dropped at each commit.

The estimator keeps its parameters only (a DSN string, not a connection), so ``clone``,
``GridSearchCV`` and ``n_jobs`` work; it connects when it first needs to.
"""
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from . import frames
from .client import connect
from .errors import Error


class _PgscoreEstimator(BaseEstimator):
    _task = None

    def __init__(self, dsn=None, algorithm=None, hyperparams=None, project=None, seed=42, keep_versions=False):
        self.dsn = dsn
        self.algorithm = algorithm
        self.hyperparams = hyperparams
        self.project = project
        self.seed = seed
        self.keep_versions = keep_versions

    # a live connection is no parameter: not cloned, not pickled
    def _client(self):
        client = self.__dict__.get("_connection")
        if client is None or client.connection.closed:
            client = connect(self.dsn)
            self.__dict__["_connection"] = client
        return client

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_connection", None)
        return state

    def _frame(self, X):
        frame = frames.as_frame(X)
        if not hasattr(X, "columns"):
            frame.columns = [f"x{i}" for i in range(frame.shape[1])]
        return frame

    def _project(self, client):
        project = self.project or f"sklearn_{self._task}"
        task = client.project_task(project)
        if task is None:
            try:
                client.create_project(project, self._task, "manual")
            except Error as e:
                if e.sqlstate != "23505":      # another fit created it meanwhile
                    raise
        elif task != self._task:
            raise ValueError(f'project "{project}" is a {task} project; {type(self).__name__} needs a {self._task} one')
        return project

    def _label_values(self, y):
        return np.asarray(y)

    def fit(self, X, y):
        frame = self._frame(X).copy()
        names = [str(c) for c in frame.columns]
        label = getattr(y, "name", None)
        label = str(label) if label is not None and str(label) not in names else "target"
        while label in names:
            label += "_"
        frame[label] = self._label_values(y)
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        client = self._client()
        project = self._project(client)
        result = client.train(project, frame, label, algorithm=self.algorithm, deploy="manual",
                              test_fraction=0, seed=self.seed, **(self.hyperparams or {}))
        self.project_ = project
        self.algorithm_ = result["algorithm"]
        self.model_ = client.model_bytes(project, result["version"])
        if self.keep_versions:
            self.version_ = result["version"]
        else:
            client.drop_version(project, result["version"])
            self.version_ = None
        return self

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit first")

    def _predict(self, X):
        self._check_fitted()
        return self._client().predict(self.project_, self._frame(X), model=self.model_).to_numpy()


class PgscoreClassifier(ClassifierMixin, _PgscoreEstimator):
    """A classifier trained by ml.train: ``algorithm`` logistic_regression (default),
    naive_bayes, decision_tree, random_forest or gradient_boosting; ``hyperparams`` the
    algorithm's options as a dict (``{"l2": 0.5}``); ``keep_versions`` (default False)
    keeps each fit's version in the registry instead of dropping it. ``score`` is
    accuracy."""
    _task = "classification"

    def fit(self, X, y):
        self.classes_ = np.unique(np.asarray(y))
        return super().fit(X, y)

    def predict(self, X):
        return self._predict(X).astype(self.classes_.dtype)

    def predict_proba(self, X):
        self._check_fitted()
        proba = self._client().predict_proba(self.project_, self._frame(X), model=self.model_)
        # the model orders classes as np.unique does; match by name to be sure
        by_name = {str(c): i for i, c in enumerate(proba.columns)}
        order = [by_name[str(c)] for c in self.classes_]
        return proba.to_numpy()[:, order]


class PgscoreRegressor(RegressorMixin, _PgscoreEstimator):
    """A regressor trained by ml.train: ``algorithm`` linear_regression (default),
    decision_tree, random_forest or gradient_boosting; ``hyperparams`` and
    ``keep_versions`` as for PgscoreClassifier. ``score`` is R²."""
    _task = "regression"

    def _label_values(self, y):
        # a float label: ml.train reads an integer label with few values as classes
        return np.asarray(y, dtype=float)

    def predict(self, X):
        return self._predict(X).astype(float)
