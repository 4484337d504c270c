"""pgscore from Python: train, score, deploy and export models that live in PostgreSQL.

    import pgscore
    client = pgscore.connect()                     # libpq environment, or a DSN
    client.train("heart", df, "sick")              # a DataFrame, table, view or query
    client.predict("heart", new_rows)              # a Series on new_rows.index
"""
from .client import Client, connect
from .errors import Error

__all__ = ["Client", "Error", "connect"]
__version__ = "0.1.0"
