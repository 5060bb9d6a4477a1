"""LIKE patterns that take what a person typed literally.

"%" and "_" are LIKE's wildcards (any text, any one character) but ordinary
characters in a search box: they, and the escape character itself, are
escaped. SQLAlchemy's startswith(autoescape=True) would do this in SQL, but
puts a literal "%" in the statement, which the `databases` SQLite backend
mistakes for a parameter.

    column.like(starting_with(text), escape=ESCAPE)
"""

import sqlalchemy as sa

ESCAPE = "/"


def _literal(text: str) -> str:
    for special in (ESCAPE, "%", "_"):
        text = text.replace(special, ESCAPE + special)
    return text


def starting_with(text: str) -> str:
    return _literal(text) + "%"


def containing(text: str) -> str:
    return "%" + _literal(text) + "%"


def any_contains(columns: tuple[sa.Column, ...], text: str) -> sa.ColumnElement[bool]:
    """Whether any of `columns` contains `text`.

    LIKE ignores case on both databases: MySQL by its collation, SQLite for
    ASCII letters.
    """
    pattern = containing(text)
    return sa.or_(*(column.like(pattern, escape=ESCAPE) for column in columns))
