"""Channels: what one stream listens to, and where it stands in each.

A page shows the events of one channel: a person's home feed, a group, a
profile; and every page of a logged-in person shows their notices (the
navbar's bell: their notifications, see notification.models). Each
channel numbers its own events 1, 2, 3, … (see feed.models), so where a
browser stands is one number per channel. One connection can carry
several channels (every tab of a browser shares one, see
static/js/broadcast.js), and its event id is then a *cursor*: the numbers
of all of them, after the database's epoch:

    k3f9x2/home=12/group:5=3/profile:7=9

`Last-Event-ID` brings the whole cursor back on a reconnect, so each channel
resumes exactly where it was.

A channel's *name* is what the page sees. A person's own channels (their
home, their notices) are named without their id, "home", "notices": one name
for every reader, so an event's frame is encoded once for all of them, and
no one can even name another person's.
"""

import re
from dataclasses import dataclass

from group.models import GROUP_CHANNEL as GROUP
from user.models import NOTICES_CHANNEL as NOTICES
from user.models import PROFILE_CHANNEL as PROFILE

HOME = "home"
KINDS = (HOME, GROUP, PROFILE, NOTICES)
# Kinds whose key is the viewer's own id: a reader may only ever open their own.
PERSONAL_KINDS = frozenset({HOME, NOTICES})

MAX_CHANNELS = 32  # per stream: one browser's open tabs rarely show more
EPOCH_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
_NAME = re.compile(r"(?P<kind>[a-z]+)(?::(?P<key>[0-9]{1,10}))?")
_SEQ = re.compile(r"[0-9]{1,18}")


CHANNEL_NAMES = "say home, notices, group:<id> or profile:<id>"


class BadChannel(ValueError):
    """A channel name or a cursor that is not one: the client's mistake (400)."""


@dataclass(frozen=True, slots=True)
class Channel:
    """One stream channel: a kind (home, group, profile, notices) and whose it is."""

    kind: str
    key: int

    def name(self) -> str:
        """What the page calls it: "home", "notices", "group:5", "profile:7"."""
        return self.kind if self.kind in PERSONAL_KINDS else f"{self.kind}:{self.key}"


def parse_name(name: str, viewer_id: int) -> Channel:
    """The channel a page names, for the viewer; BadChannel if it is none."""
    match = _NAME.fullmatch(name)
    kind = match and match["kind"]
    if kind not in KINDS or (kind in PERSONAL_KINDS) == (match["key"] is not None):
        raise BadChannel(f"{name!r} is not a channel: {CHANNEL_NAMES}.")
    personal = kind in PERSONAL_KINDS
    return Channel(kind, viewer_id if personal else int(match["key"]))


def parse_names(names: str, viewer_id: int) -> list[Channel]:
    """The channels of `?channels=home,group:5`, each once, in order."""
    channels = list(dict.fromkeys(parse_name(name, viewer_id) for name in names.split(",")))
    if len(channels) > MAX_CHANNELS:
        raise BadChannel(f"A stream carries at most {MAX_CHANNELS} channels.")
    return channels


@dataclass(frozen=True)
class Cursor:
    """Where a stream stands: the epoch, and the last event id of each channel."""

    epoch: str
    positions: dict[Channel, int]

    def __str__(self) -> str:
        parts = (f"{channel.name()}={seq}" for channel, seq in self.positions.items())
        return "/".join((self.epoch, *parts))


def parse_cursor(text: str, viewer_id: int) -> Cursor:
    """A cursor from a page or a Last-Event-ID; BadChannel if it is not one."""
    epoch, *parts = text.split("/")
    if EPOCH_PATTERN.fullmatch(epoch) is None or len(parts) > MAX_CHANNELS:
        raise BadChannel("That is not a stream position: epoch/channel=id/….")
    positions = {}
    for part in parts:
        name, _, seq = part.partition("=")
        if _SEQ.fullmatch(seq) is None:
            raise BadChannel(f"{part!r} is not a channel's position: channel=id.")
        positions[parse_name(name, viewer_id)] = int(seq)
    return Cursor(epoch, positions)
