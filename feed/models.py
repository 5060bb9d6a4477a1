"""The `feed` table: one row per (reader, action), fanned out on write.

Each row's id is also the id of the Server-Sent Event that tells the reader
about it, so a browser that reconnects with `Last-Event-ID` is sent exactly
the rows it missed.
"""

import sqlalchemy as sa

from db import BigId, Timestamp, metadata

ACTIONS = ("post", "comment", "like", "unlike")

feed_table = sa.Table(
    "feed",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("to_user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
    sa.Column("fm_user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
    sa.Column("post_id", sa.Integer, sa.ForeignKey("post.id"), nullable=False),
    sa.Column("action", sa.String(10), nullable=False),
    sa.Column("created", Timestamp, nullable=False),
    sa.Column("updated", Timestamp, nullable=False),
    sa.Index("ix_feed_to_user_id_id", "to_user_id", "id"),
    sa.Index("ix_feed_to_user_action_updated", "to_user_id", "action", "updated"),
    # Finds everyone who has a post in their feed, when it is commented or liked.
    sa.Index("ix_feed_post_id_action", "post_id", "action"),
)
