"""Ingest: sources in, typed rows out to the lake (extract, parse by name, conform, load).

``sources/`` lists and opens files, S3 objects and CloudWatch streams; ``keys`` reads what
an object's key says (account, region, date); ``readers`` recognises a source's content and
hands it to the text or JSON parser (``textlogs``, ``jsonlogs``, ``logformat``); ``conform``
types and validates rows or quarantines them; ``load`` runs the workers and publishes to the
lake; ``pull`` plans a run from the command line's request.
May import: core modules and ``pipeline.lake``. Never ``analysis``, ``report`` or ``cli``.
"""
