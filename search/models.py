"""Finding posts and comments by their words, through an index of the words
each database keeps (migrations/versions/0015_search.py):

- MySQL/MariaDB: an InnoDB FULLTEXT index on post.body, asked in boolean
  mode with every word required: `+"ducks" +"pond"`.
- SQLite: an FTS5 table, post_search, asked for every word: `"ducks" "pond"`.

What a person types is never read as either index's syntax: a search is
cut into words (letters, marks, digits and underscores; everything else
separates them, as it does in the index), and each word is quoted. `-`,
`+`, `*`, `"`, `(`, `~`, `@` or `:` are no operators here, only the spaces
between words; "NEAR" or "OR" are words like any other.

Only what a visitor could read anyway is found: no deleted post or comment
(deleting one empties its text, which takes its words out of the index),
and nothing posted in a group, nor the comments on it.
"""

import unicodedata
from dataclasses import dataclass

import sqlalchemy as sa
from databases import Database
from databases.interfaces import Record
from sqlalchemy.dialects.mysql import match

from post.models import NOT_DELETED, POST_COLUMNS, parent_table, post_table
from user.models import user_table
from utilities.like import ESCAPE, containing

# Neither is declared in the models' metadata: see `is_search_index`.
FULLTEXT_INDEX = "ix_post_body_words"  # MySQL
SEARCH_TABLE = "post_search"  # SQLite; its hidden column of the same name is the one to MATCH
search_table = sa.table(
    SEARCH_TABLE, sa.column(SEARCH_TABLE), sa.column("rowid"), sa.column("rank")
)

# The words InnoDB leaves out of a FULLTEXT index, with its default settings
# (innodb_ft_min_token_size, innodb_ft_max_token_size, and its default
# stopword list, INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD): asking the
# index for one of them finds nothing at all.
INDEXED_WORD_LENGTHS = range(3, 85)
MYSQL_STOPWORDS = frozenset({
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how",
    "i", "in", "is", "it", "la", "of", "on", "or", "that", "the", "this", "to", "was", "what",
    "when", "where", "who", "will", "with", "und", "www",
})  # fmt: skip
# How many of the newest posts and comments a search of nothing but such
# words reads (see `_found_by_text`).
RECENT_POSTS_SCANNED = 10_000
HASHTAG = "#"


def is_search_index(name: str | None) -> bool:
    """Whether the database object called `name` is part of an index of
    words: the FULLTEXT index, the FTS5 table or one of its own tables
    (post_search_data, …). None of them is in the metadata, and Alembic's
    comparisons leave them out (migrations/env.py)."""
    if name is None:
        return False
    return name in (FULLTEXT_INDEX, SEARCH_TABLE) or name.startswith(f"{SEARCH_TABLE}_")


@dataclass(frozen=True)
class Term:
    """One word of a search, in lower case. A hashtag (`#ducks`) finds the
    posts that carry it, not those that merely say "ducks"."""

    word: str
    hashtag: bool = False

    @property
    def written(self) -> str:
        """The term as a post holds it."""
        return HASHTAG + self.word if self.hashtag else self.word


def _is_word_character(character: str) -> bool:
    # Marks too: Hindi, Arabic or Hebrew words hold vowel signs, which
    # Python's \w does not count, and both indexes keep within a word.
    return character == "_" or unicodedata.category(character)[0] in "LMN"


def _spaced(character: str) -> str:
    """A word character as it is; "#" as the start of a token; any other
    character a space between tokens."""
    if _is_word_character(character):
        return character
    return " " + HASHTAG if character == HASHTAG else " "


def search_terms(text: str) -> list[Term]:
    """The terms of a search, each once, in the order typed: "Ducks, #pond
    ducks!" gives ducks and #pond. A run of word characters with no letter
    or digit in it ("___") is no term."""
    spaced = "".join(map(_spaced, unicodedata.normalize("NFC", text)))
    terms = {}
    for token in spaced.split():
        word = token.lstrip(HASHTAG).lower()
        if any(character.isalnum() for character in word):
            terms.setdefault(Term(word, token.startswith(HASHTAG)), None)
    return list(terms)


def mysql_indexes(word: str) -> bool:
    """Whether InnoDB's FULLTEXT index holds `word`."""
    return len(word) in INDEXED_WORD_LENGTHS and word not in MYSQL_STOPWORDS


def mysql_boolean_query(words: list[str]) -> str:
    """Every word required. A word holds no quote (see `search_terms`), so
    the quotes around it make it one word, never an operator."""
    return " ".join(f'+"{word}"' for word in words)


def fts5_query(words: list[str]) -> str:
    """Every word required (FTS5 joins them with AND). Each is a string,
    inner quotes doubled as FTS5 escapes them: no bareword can be an
    operator (AND, OR, NOT, NEAR) or a column filter."""
    return " ".join('"{}"'.format(word.replace('"', '""')) for word in words)


BY_CLOSED_ACCOUNT = sa.exists().where(
    user_table.c.id == post_table.c.user_id, user_table.c.deleted.is_not(None)
)


def _matching(score: sa.ColumnElement, *conditions: sa.ColumnElement[bool]) -> sa.Select:
    """The ids of the posts and comments that meet `conditions` and that
    anyone may read, with their `score` (higher is better), best first and
    newest first among equals."""
    return (
        sa.select(post_table.c.id, score.label("score"))
        # A comment's group is its post's; a closed account's posts are
        # hidden from the moment it closes, before their rows are deleted.
        .where(*conditions, NOT_DELETED, post_table.c.group_id.is_(None), ~BY_CLOSED_ACCOUNT)
        .order_by(score.desc(), post_table.c.id.desc())
    )


def _described(page: sa.Subquery) -> sa.Select:
    """The posts and comments of a page of `_matching` ids, in its order,
    with their authors and, for a comment, its post's uid (its link).

    Found first, described after: the joins and the mentions' subquery are
    paid for the rows of the page only, not for every row that matched (the
    database would otherwise join ten thousand rows to show twenty).
    """
    return (
        sa.select(*POST_COLUMNS, parent_table.c.uid.label("parent_uid"))
        .select_from(
            page.join(post_table, post_table.c.id == page.c.id)
            .join(user_table, user_table.c.id == post_table.c.user_id)
            .outerjoin(parent_table, parent_table.c.id == post_table.c.parent_post_id)
        )
        .order_by(page.c.score.desc(), page.c.id.desc())
    )


def _holding(terms: list[Term]) -> list[sa.ColumnElement[bool]]:
    """The text holds each term as written ("%" and "_" in it taken literally)."""
    return [post_table.c.body.like(containing(term.written), escape=ESCAPE) for term in terms]


def _matching_on_mysql(terms: list[Term]) -> sa.Select:
    """Ranked by InnoDB's relevance.

    The words the index leaves out, and hashtags (the index keeps "#ducks"
    as "ducks"), are looked for in the text of what the indexed words found.
    """
    indexed = [term.word for term in terms if mysql_indexes(term.word)]
    in_text = [term for term in terms if term.hashtag or not mysql_indexes(term.word)]
    if not indexed:
        return _matching_by_text(in_text)
    relevance = match(post_table.c.body, against=mysql_boolean_query(indexed)).in_boolean_mode()
    return _matching(relevance, relevance, *_holding(in_text))


def _matching_by_text(terms: list[Term]) -> sa.Select:
    """A search of nothing but words InnoDB does not index ("is", "go"):
    among the newest RECENT_POSTS_SCANNED posts and comments, those that
    hold them, newest first.

    Not a prefix search ("go*"), which finds "gone" and "goal" but never
    "go" itself, the word typed; and not every post: LIKE '%go%' reads each
    row it looks at, a scan that grows with the table (bench/search.py
    measures one), while the newest ten thousand, read along the primary
    key, cost a bounded few milliseconds. Recent posts are what a short
    word most likely looks for.
    """
    newest_id = sa.select(sa.func.max(post_table.c.id)).scalar_subquery()
    recent = post_table.c.id > newest_id - RECENT_POSTS_SCANNED
    return _matching(post_table.c.id, recent, *_holding(terms))  # scored by newness alone


def _matching_on_sqlite(terms: list[Term]) -> sa.Select:
    """Ranked by FTS5's bm25 (`rank`, lowest best, hence negated).

    FTS5 indexes every word; only a hashtag is also looked for in the text.
    """
    words = fts5_query([term.word for term in terms])
    return _matching(
        -search_table.c.rank,
        search_table.c.rowid == post_table.c.id,
        search_table.c[SEARCH_TABLE].op("MATCH")(words),
        *_holding([term for term in terms if term.hashtag]),
    )


async def found_posts(
    database: Database, terms: list[Term], limit: int, offset: int = 0
) -> list[Record]:
    """The posts and comments that hold every term (at least one), best
    first and newest first among equals: rows of POST_COLUMNS and
    `parent_uid`."""
    on_mysql = database.url.dialect == "mysql"
    matching = _matching_on_mysql(terms) if on_mysql else _matching_on_sqlite(terms)
    page = matching.limit(limit).offset(offset).subquery("page")
    return await database.fetch_all(_described(page))
