"""Scheduled runs that tell someone: incidents tracked across runs, notifications on open and resolve.

``lifecycle`` decides (pure) what a run changed; ``messages`` words a change; ``senders`` delivers
it to Amazon SNS, Amazon EventBridge or a webhook; ``deliver`` ties them to the lake's records
(``pipeline.lake.incidents``) so a notification is sent once, retried until delivered, never lost.
May import: core modules, ``pipeline.lake`` and ``pipeline.analysis`` (the findings document).
"""
