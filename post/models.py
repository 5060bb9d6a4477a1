"""The `post` and `like` tables and their queries.

A comment is a post whose `parent_post_id` names the post it answers.
"""

import sqlalchemy as sa

from db import Timestamp, metadata

MAX_BODY_LENGTH = 280

post_table = sa.Table(
    "post",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uid", sa.String(36), nullable=False),
    sa.Column("parent_post_id", sa.Integer, sa.ForeignKey("post.id"), nullable=True, index=True),
    sa.Column("body", sa.String(MAX_BODY_LENGTH), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False, index=True),
    sa.Column("created", Timestamp, nullable=False),
    sa.Column("updated", Timestamp, nullable=False),
    sa.UniqueConstraint("uid", name="uq_post_uid"),
)

like_table = sa.Table(
    "like",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("post_id", sa.Integer, sa.ForeignKey("post.id"), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
    sa.Column("created", Timestamp, nullable=False),
    sa.UniqueConstraint("post_id", "user_id", name="uq_like_post_user"),
)
