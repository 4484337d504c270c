"""What the training-state tests share: a table of rows with every label type, the fits
they run, and a comparison of two models within a stated tolerance."""
import math

FEATURES = "ARRAY[x1, x2, x3]"

# 1,200 rows: shard = g % 3; a float label y, a 3-class text label k, a boolean b
ROWS = ("SELECT g AS id, g % 3 AS shard, sin(g) AS x1, cos(g * 1.3) AS x2, sin(g * 0.7) * 3 AS x3,"
        " 2 * sin(g) - cos(g * 1.3) + 0.1 * sin(g * 17) AS y,"
        " CASE WHEN sin(g) + cos(g * 1.3) > 0.3 THEN 'hi' WHEN sin(g) > -0.2 THEN 'mid' ELSE 'lo' END AS k,"
        " sin(g) + 0.5 * sin(g * 5) > 0 AS b FROM generate_series(1, 1200) g")

# aggregate, label, options, relative tolerance (0: the same bytes)
FITS = [
    ("linreg_fit", "y", None, 1e-9),
    ("linreg_fit", "y", '{"l2": 0.5}', 1e-9),
    ("nb_fit", "k", None, 1e-9),
    ("nb_fit", "b", None, 1e-9),
    ("logreg_fit", "b", None, 1e-6),
    ("logreg_fit", "k", '{"l2": 0.1}', 1e-6),
    ("tree_fit", "k", '{"max_depth": 4}', 0),
    ("tree_fit", "y", '{"max_depth": 3}', 0),
    ("forest_fit", "k", '{"n_trees": 4, "max_depth": 3}', 0),
    ("gbt_fit", "y", '{"n_trees": 4, "max_depth": 3}', 0),
]


def call(aggregate, label, options, suffix=""):
    args = f"{FEATURES}, {label}" + (f", '{options}'::jsonb" if options else "")
    return f"ml.{aggregate}{suffix}({args})"


def assert_same_model(a, b, rel, where=""):
    """Two ml.describe documents: equal, numbers within `rel` (relative, with an
    absolute floor of rel for values near zero)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: {a} vs {b}"
        for key in a:
            assert_same_model(a[key], b[key], rel, f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{where}: {a} vs {b}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_model(x, y, rel, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=rel, abs_tol=rel), f"{where}: {a} vs {b}"
    else:
        assert a == b, f"{where}: {a} vs {b}"
