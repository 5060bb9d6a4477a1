"""The page reads and writes stream cursors as the server does: the shared
stream's tabs compare seqs from the ids the server sends, and the holder
sends the server a cursor it built (static/js/broadcast.js)."""

from feed.channels import parse_cursor
from tests.helpers import run_with_broadcast_js

READ_WITH_NODE = """
const { parseCursor, formatCursor } = require(process.argv[1]);
const cursors = JSON.parse(require("fs").readFileSync(0, "utf8"));
const read = cursors.map(parseCursor);
process.stdout.write(JSON.stringify({ read, written: read.map(formatCursor) }));
"""
CURSORS = [
    "k3f9x2/home=12/group:5=3/profile:7=9",
    "k3f9x2/profile:7=0",
    "A_b-9/home=0",
    "k3f9x2",  # no channel at all
]
VIEWER_ID = 4


def read_in_node(cursors: list[str]) -> dict:
    return run_with_broadcast_js(READ_WITH_NODE, cursors)


def test_the_page_reads_each_channels_seq_as_the_server_does():
    read = read_in_node(CURSORS)["read"]
    for text, page in zip(CURSORS, read, strict=True):
        server = parse_cursor(text, VIEWER_ID)
        assert page["epoch"] == server.epoch
        assert page["seqs"] == {channel.name(): seq for channel, seq in server.positions.items()}


def test_the_page_writes_back_the_cursor_it_read():
    written = read_in_node(CURSORS)["written"]
    assert written == CURSORS
    assert written == [str(parse_cursor(text, VIEWER_ID)) for text in CURSORS]
