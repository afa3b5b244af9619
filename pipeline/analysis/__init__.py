"""Analysis: the SQL of ``queries/`` over the lake, and what SQL cannot do well in Python.

``connection`` opens DuckDB with every view; ``findings`` runs the conversation and finding
queries; ``network`` and ``causes`` evaluate security groups, network ACLs and routes to
confirm a cause; ``fixes`` builds the least-privilege change for a cause, ``proof`` checks it on a
copy of the configuration, ``unconfirmed`` says what to fetch first; ``document`` shapes the findings document (the JSON contract); ``reports``
the other reports; ``sql`` and ``export`` serve analysts.
May import: core modules, ``pipeline.lake``, ``pipeline.metadata``. Never ``ingest``,
``report``, ``jobs`` or ``cli``.
"""
