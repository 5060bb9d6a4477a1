"""Search (/search): posts and comments by their words through each
database's index of words, people by part of their name, groups by their
name or description; nothing deleted, nothing in a group; what people type
taken as text, never as the index's syntax or a LIKE wildcard."""

import re
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from db import utc_now
from feed.models import write_account_closed
from group.models import create_group, group_by_slug
from post.models import add_mentions, delete_posts, insert_post
from relationship.models import follow
from search.models import MYSQL_STOPWORDS, Term, search_terms
from tests.helpers import create_users, register_and_login, text_of
from user.models import update_user, user_by_name

FOUND_POST = re.compile(r'class="card shadow-sm mb-2 found-post" data-uid="([^"]+)"')
FOUND_PERSON = re.compile(r'class="list-group-item [^"]*" data-username="([^"]+)"')
FOUND_GROUP = re.compile(r'class="list-group-item" data-slug="([^"]+)"')


@pytest.fixture
async def author(database) -> int:
    return (await create_users(database, ["author"]))["author"]


async def search(client, text: str, **params):
    return await client.get(f"/search?{urlencode({'q': text, **params})}")


async def found(client, text: str, pattern=FOUND_POST, **params) -> list[str]:
    """What a search shows, in order: post and comment uids, usernames or slugs."""
    response = await search(client, text, **params)
    assert response.status_code == 200, await text_of(response)
    return pattern.findall(await text_of(response))


async def write(database, author: int, *bodies: str, **where) -> list[str]:
    """Posts (or comments, `parent_post_id=`), oldest first; their uids."""
    return [(await insert_post(database, author, body, utc_now(), **where))[1] for body in bodies]


async def post_id(database, uid: str) -> int:
    post = sa.table("post", sa.column("id"), sa.column("uid"))
    return await database.fetch_val(sa.select(post.c.id).where(post.c.uid == uid))


async def test_words_are_found_best_match_first_and_newest_among_equals(client, database, author):
    older, twice, newer, _ = await write(
        database,
        author,
        "we fed the ducks at noon",
        "ducks and more ducks",
        "we fed the ducks at noon",
        "swans only, no other birds",
    )
    assert await found(client, "ducks") == [twice, newer, older]
    assert await found(client, "Fed DUCKS") == [newer, older]  # every word, any case
    assert await found(client, "ducks geese") == []


async def test_case_and_accents_do_not_matter(client, database, author):
    (cafe,) = await write(database, author, "Café au lait")
    assert await found(client, "CAFE") == [cafe]
    assert await found(client, "café") == [cafe]


async def test_a_comment_is_found_and_links_to_its_place_on_its_post(client, database, author):
    (post,) = await write(database, author, "a quiet post")
    (comment,) = await write(
        database, author, "@author loud ducks", parent_post_id=await post_id(database, post)
    )
    await add_mentions(database, await post_id(database, comment), [author])
    response = await search(client, "loud")
    page = await text_of(response)
    assert FOUND_POST.findall(page) == [comment]
    assert f'href="/posts/{post}#comment-{comment}"' in page
    assert "commented" in page
    assert '<a class="mention" href="/user/author">@author</a>' in page  # rich text


async def test_a_hashtag_finds_the_posts_that_carry_it(client, database, author):
    tagged, untagged, _, short_tag = await write(
        database, author, "learning #python today", "python, untagged", "#pythonista", "#go go"
    )
    assert await found(client, "#python") == [tagged]
    assert set(await found(client, "python")) == {tagged, untagged}
    assert await found(client, "#go") == [short_tag]  # too short for MySQL's index


async def test_deleted_posts_and_posts_in_groups_are_not_found(client, database, author):
    slug = await create_group(database, author, "Ducklings")
    group = await group_by_slug(database, slug, None)
    public, deleted = await write(database, author, "mallard public", "mallard deleted")
    (in_group,) = await write(database, author, "mallard in a group", group_id=group["id"])
    await write(
        database,
        author,
        "mallard on a group post",
        parent_post_id=await post_id(database, in_group),
        group_id=group["id"],
    )
    await delete_posts(database, [await post_id(database, deleted)], utc_now())
    assert await found(client, "mallard") == [public]


async def test_a_closed_account_and_its_posts_are_not_found_before_their_rows_go(
    client, database, author
):
    """Closing an account hides its posts at once; the workers delete them later."""
    closing = (await create_users(database, ["mallardfan"]))["mallardfan"]
    (kept,) = await write(database, author, "mallard stays")
    await write(database, closing, "mallard goes")
    farewell = {"post_uid": None, "comment_uid": None, "author": "mallardfan"}
    await write_account_closed(database, closing, utc_now(), farewell)
    assert await found(client, "mallard") == [kept]
    assert await found(client, "mallard", FOUND_PERSON, section="people") == []


async def test_the_index_follows_a_changed_text(client, database, author):
    """SQLite's triggers (0015_search.py) take the old words out and put the new ones in."""
    (uid,) = await write(database, author, "a grey heron")
    post = sa.table("post", sa.column("uid"), sa.column("body"))
    await database.execute(post.update().where(post.c.uid == uid).values(body="a white egret"))
    assert await found(client, "heron") == []
    assert await found(client, "egret") == [uid]


async def test_people_are_found_by_any_part_of_their_name(client, database):
    await create_users(database, ["joanna", "annabel", "bob", "ann_lee", "annal"])
    assert await found(client, "ANN", FOUND_PERSON, section="people") == [
        "ann_lee",  # names that start with it first, in alphabetical order
        "annabel",
        "annal",
        "joanna",
    ]
    # "_" is no LIKE wildcard: "n_l" is not "nal".
    assert await found(client, "n_l", FOUND_PERSON, section="people") == ["ann_lee"]


async def test_people_are_found_by_their_display_name_which_results_show(client, database, author):
    await update_user(database, author, display_name="Quackers McDuck")
    assert await found(client, "mcduck", FOUND_PERSON, section="people") == ["author"]
    await write(database, author, "a mallard")
    assert "Quackers McDuck" in await text_of(await search(client, "mallard"))


async def test_groups_are_found_by_name_or_description(client, database, author):
    await create_group(database, author, "Birdwatchers", "We watch ducks at dawn")
    await create_group(database, author, "Night owls", "Posts after midnight")
    await create_group(database, author, "100% cotton", "Knitting")
    await create_group(database, author, "1000 threads", "Sewing")
    assert await found(client, "dawn", FOUND_GROUP, section="groups") == ["birdwatchers"]
    assert await found(client, "owls", FOUND_GROUP, section="groups") == ["night-owls"]
    # "%" is no LIKE wildcard: "100%" is not "1000".
    assert await found(client, "100%", FOUND_GROUP, section="groups") == ["100-cotton"]


@pytest.mark.parametrize(
    ("text", "finds"),
    [
        ('"hello"', "quoted"),  # quotes: no phrase syntax, the word
        ('said "hello', "quoted"),  # an unbalanced quote
        ("-ray vision", "x-ray"),  # a minus excludes nothing
        ("+vision -", "x-ray"),
        ("snake_case", "snake"),  # "_" within a word
        ("100%", "percent"),  # "%" is no wildcard: 1000 is not found
        ("(vision) ~ray <x>", "x-ray"),  # MySQL's other operators
        ("vision NOT ray", None),  # FTS5's operators are words: "not" is in no post
        ("hel*", None),  # "*" is no prefix search: "hel" is not "hello"
    ],
)
async def test_operators_and_wildcards_are_text(client, database, author, text, finds):
    posts = dict(
        zip(
            ["quoted", "x-ray", "snake", "percent", "thousand"],
            await write(
                database,
                author,
                'she said "hello" twice',
                "x-ray vision",
                "snake_case names",
                "100% sure",
                "1000 ways",
            ),
            strict=True,
        )
    )
    assert await found(client, text) == ([posts[finds]] if finds else [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x" * 1000, "A search is at most 200 characters; this one has 1,000."),
        ("", "Type a word to search for."),
        ("   ", "Type a word to search for."),
        ('+-*"%_ ~()', "Search for a word: at least one letter or digit."),
        ("ducks\tgeese", "A search cannot contain control characters"),
        ("nul\x00", "A search cannot contain control characters"),
    ],
)
async def test_a_search_that_cannot_be_made_is_a_400_that_says_why(client, text, message):
    response = await search(client, text)
    assert response.status_code == 400
    assert message in await text_of(response)


async def test_an_unknown_section_is_a_400(client):
    response = await search(client, "ducks", section="everything")
    assert response.status_code == 400
    assert "Search in one of: posts, people, groups." in await text_of(response)


async def test_right_to_left_words_are_found(client, database, author):
    arabic, hebrew = await write(database, author, "مرحبا بالعالم", "שלום עולם")
    assert await found(client, "مرحبا") == [arabic]
    assert await found(client, "עולם") == [hebrew]
    page = await text_of(await search(client, "עולם"))
    assert "<bdi>עולם</bdi>" in page


async def test_short_words_and_stopwords_still_find_posts(client, database, author):
    co_op, this_is_it, the_end, _ = await write(
        database, author, "we met at the co op", "this is it", "the end", "an end"
    )
    assert co_op in await found(client, "co")  # shorter than MySQL's shortest indexed word
    assert this_is_it in await found(client, "is")  # a stopword on MySQL
    assert await found(client, "the end") == [the_end]  # every word, stopword or not


async def test_the_stopwords_are_the_servers(database):
    """MySQL: the list of words left out of the index is the server's own.
    SQLite: FTS5 leaves none out, so it needs no list."""
    if database.url.dialect == "mysql":
        query = "SELECT value FROM INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD"
        stopwords = {row[0] for row in await database.fetch_all(query)}
        assert stopwords == MYSQL_STOPWORDS
        assert await database.fetch_val("SELECT @@innodb_ft_min_token_size") == 3
    else:
        author = (await create_users(database, ["author"]))["author"]
        await write(database, author, "this is it")
        matches = "SELECT rowid FROM post_search WHERE post_search MATCH '\"is\"'"
        assert len(await database.fetch_all(matches)) == 1


def test_a_search_is_cut_into_words_and_hashtags():
    assert search_terms("Ducks, #pond ducks! ___ #") == [Term("ducks"), Term("pond", True)]
    # Words with vowel signs (marks), which Python's \w would cut: Hindi, and Arabic with harakat.
    marhaban = "\u0645\u064e\u0631\u0652\u062d\u064e\u0628\u064b\u0627"
    assert search_terms(f"नमस्ते {marhaban}") == [Term("नमस्ते"), Term(marhaban)]
    assert search_terms('"x"-y*') == [Term("x"), Term("y")]


async def test_results_come_in_pages_with_constant_statements(client, database, author):
    """One statement for a visitor's page, whatever it finds."""
    uids = await write(database, author, *(f"duck number {n}" for n in range(25)))
    before = database.statements
    first = await text_of(await search(client, "duck"))
    after_first = database.statements
    second = await text_of(await search(client, "duck", page=2))
    assert FOUND_POST.findall(first) == uids[::-1][:20]
    assert FOUND_POST.findall(second) == uids[::-1][20:]
    assert 'rel="next" href="/search?q=duck&amp;page=2"' in first
    assert 'rel="prev"' in second
    assert after_first - before == database.statements - after_first == 1


async def test_searching_is_rate_limited(limited_app):
    app = await limited_app(SEARCH_LIMIT_PER_ADDRESS="2/60", SEARCH_LIMIT_PER_USER="1/60")
    visitor, alice = app.test_client(), app.test_client()
    answers = [(await search(visitor, "ducks")).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    await register_and_login(alice, "alice")
    answers = [(await search(alice, "ducks")).status_code for _ in range(2)]
    assert answers == [200, 429]  # her own count, not her address's
    assert (await visitor.get("/search")).status_code == 200  # the empty page counts nothing


async def test_a_logged_in_person_sees_whom_they_follow_among_people_found(client, database):
    people = await create_users(database, ["annabel", "joanna"])
    await register_and_login(client, "alice")
    alice = await user_by_name(database, "alice")
    await follow(database, alice["id"], people["joanna"])
    page = await text_of(await search(client, "anna", section="people"))
    annabel, joanna = page.split('data-username="')[1:]
    assert ">Follow</button>" in annabel
    assert ">Unfollow</button>" in joanna
