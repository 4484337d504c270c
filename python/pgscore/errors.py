"""What the server refuses arrives as one exception type carrying PostgreSQL's answer."""
import contextlib

import psycopg


class Error(Exception):
    """An error raised by the server (or the connection to it).

    ``sqlstate`` is PostgreSQL's five-character code (``22023`` bad option, ``42703``
    missing column, ``0A000``, ...; the README's SQLSTATE table), ``None`` when the
    connection itself failed; ``hint`` and ``detail`` are the server's, when it sent them.
    """

    def __init__(self, message, sqlstate=None, hint=None, detail=None):
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.hint = hint
        self.detail = detail

    def __str__(self):
        text = self.message
        if self.sqlstate:
            text = f"{text} (SQLSTATE {self.sqlstate})"
        if self.detail:
            text = f"{text}\nDETAIL: {self.detail}"
        if self.hint:
            text = f"{text}\nHINT: {self.hint}"
        return text


@contextlib.contextmanager
def server_errors():
    """Turns psycopg's exceptions into :class:`Error`, keeping the original as the cause."""
    try:
        yield
    except psycopg.Error as e:
        diag = e.diag
        raise Error(diag.message_primary or str(e).strip(), sqlstate=e.sqlstate,
                    hint=diag.message_hint, detail=diag.message_detail) from e
