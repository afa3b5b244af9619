"""Where records come from: local files, S3 objects, CloudWatch Logs streams.

A source module lists and opens sources; it does not parse them. Each source has a
``name``, a ``size``, ``open()`` and ``identity()`` (see ``pipeline.ingest.load``).
May import: core modules, ``pipeline.ingest.keys``, ``pipeline.ingest.logformat``.
"""

from pipeline.errors import FlowlogsError


class SourceUnavailable(FlowlogsError):
    """The source cannot be fetched now (throttled past the retries, connection lost, access
    denied, changed since listed). It is not recorded, so the next run tries it again."""
